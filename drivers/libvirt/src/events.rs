// SPDX-License-Identifier: Apache-2.0
//! libvirt's domain lifecycle events, through the C API (`virConnectDomainEventRegisterAny`):
//! the `virt` 0.4 crate has no binding for them. This is the crate's only FFI module; every
//! unsafe block states why it is sound.
//!
//! Callbacks run on libvirt's event loop thread ([`crate::conn::ensure_event_loop`]); the
//! handler given to [`register`] must not block.
#![allow(unsafe_code)]

use crate::error::LibvirtError;
use std::ffi::{CStr, c_char, c_int, c_void};
use virt::connect::Connect;
use virt::sys;

/// What a lifecycle callback reports: the domain's UUID, its name, libvirt's event
/// (`VIR_DOMAIN_EVENT_STARTED`, ...) and the domain's state and reason read when the
/// callback runs (`None` when it could not be read). Events are delivered asynchronously, so
/// the current state, not the event, is what a handler should trust.
pub type Handler = Box<dyn Fn(uuid::Uuid, &str, u32, Option<(u32, i32)>) + Send + Sync>;

/// The C callback for `VIR_DOMAIN_EVENT_ID_LIFECYCLE`
/// (`virConnectDomainEventCallback`).
unsafe extern "C" fn on_lifecycle(
    _conn: sys::virConnectPtr,
    dom: sys::virDomainPtr,
    event: c_int,
    _detail: c_int,
    opaque: *mut c_void,
) -> c_int {
    if opaque.is_null() || dom.is_null() {
        return 0;
    }
    // SAFETY: `opaque` is the `Box<Handler>` leaked by `register` for this registration; it
    // is freed only by `free_handler`, which libvirt calls after the last callback.
    let handler = unsafe { &*(opaque as *const Handler) };
    let mut buf = [0 as c_char; sys::VIR_UUID_STRING_BUFLEN as usize];
    // SAFETY: `dom` is valid for the duration of the callback (libvirt holds a reference),
    // and `buf` has the VIR_UUID_STRING_BUFLEN bytes the call writes at most.
    if unsafe { sys::virDomainGetUUIDString(dom, buf.as_mut_ptr()) } != 0 {
        return 0;
    }
    // SAFETY: on success libvirt wrote a NUL-terminated string into `buf`.
    let uuid = unsafe { CStr::from_ptr(buf.as_ptr()) };
    // SAFETY: `dom` is valid (see above); the name is owned by `dom` and NUL-terminated, and
    // is only borrowed for this call.
    let name_ptr = unsafe { sys::virDomainGetName(dom) };
    if name_ptr.is_null() {
        return 0;
    }
    // SAFETY: non-null, NUL-terminated, alive while `dom` is.
    let name = unsafe { CStr::from_ptr(name_ptr) };
    let (mut state, mut reason): (c_int, c_int) = (0, 0);
    // SAFETY: `dom` is valid (see above); both out pointers point to live locals.
    let current = match unsafe { sys::virDomainGetState(dom, &mut state, &mut reason, 0) } {
        0 => u32::try_from(state).ok().map(|s| (s, reason)),
        _ => None,
    };
    if let (Ok(uuid), Ok(name), Ok(event)) =
        (uuid.to_str().map(uuid::Uuid::parse_str), name.to_str(), u32::try_from(event))
        && let Ok(uuid) = uuid
    {
        handler(uuid, name, event, current);
    }
    0
}

/// Frees the handler when libvirt drops the registration.
unsafe extern "C" fn free_handler(opaque: *mut c_void) {
    if !opaque.is_null() {
        // SAFETY: `opaque` came from `Box::into_raw` in `register` and libvirt calls the free
        // callback exactly once.
        drop(unsafe { Box::from_raw(opaque as *mut Handler) });
    }
}

/// Registers `handler` for lifecycle events of every domain on `conn`. Returns libvirt's
/// callback id.
pub fn register(conn: &Connect, handler: Handler) -> Result<i32, LibvirtError> {
    let opaque = Box::into_raw(Box::new(handler)) as *mut c_void;
    type Lifecycle = unsafe extern "C" fn(
        sys::virConnectPtr,
        sys::virDomainPtr,
        c_int,
        c_int,
        *mut c_void,
    ) -> c_int;
    type Generic = unsafe extern "C" fn(sys::virConnectPtr, sys::virDomainPtr, *mut c_void);
    // SAFETY: libvirt's API takes every event callback as the generic type and calls it with
    // the signature of the event id (C's VIR_DOMAIN_EVENT_CALLBACK cast does the same);
    // `on_lifecycle` has exactly the lifecycle signature.
    let cb = unsafe { std::mem::transmute::<Lifecycle, Generic>(on_lifecycle) };
    // SAFETY: `conn.as_ptr()` is a live connection; `opaque` stays valid until libvirt calls
    // `free_handler`; a null domain means every domain.
    let id = unsafe {
        sys::virConnectDomainEventRegisterAny(
            conn.as_ptr(),
            std::ptr::null_mut(),
            sys::VIR_DOMAIN_EVENT_ID_LIFECYCLE as c_int,
            Some(cb),
            opaque,
            Some(free_handler),
        )
    };
    if id < 0 {
        // SAFETY: registration failed, so libvirt neither kept nor will free `opaque`.
        drop(unsafe { Box::from_raw(opaque as *mut Handler) });
        return Err(LibvirtError::from_virt(
            "register for events",
            virt::error::Error::last_error(),
        ));
    }
    Ok(id)
}
