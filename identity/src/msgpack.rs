// SPDX-License-Identifier: Apache-2.0
//! The subset of MessagePack that Keystone's Fernet payloads use, encoded exactly as Python's
//! `msgpack.packb(..., use_bin_type=True)` encodes it (smallest integer forms, float64, str
//! and bin kept apart), and decoded defensively: bounded depth and lengths, no panic on any
//! input.

/// A MessagePack value of the payload subset.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `nil`.
    Nil,
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i128),
    /// A float (float64 on the wire; float32 accepted when decoding).
    Float(f64),
    /// A UTF-8 string.
    Str(String),
    /// Raw bytes.
    Bin(Vec<u8>),
    /// An array (Python tuples and lists).
    Array(Vec<Value>),
}

/// Encodes `v`.
pub fn encode(v: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    write(&mut out, v);
    out
}

fn write(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Nil => out.push(0xc0),
        Value::Bool(false) => out.push(0xc2),
        Value::Bool(true) => out.push(0xc3),
        Value::Int(i) => write_int(out, *i),
        Value::Float(f) => {
            out.push(0xcb);
            out.extend_from_slice(&f.to_bits().to_be_bytes());
        }
        Value::Str(s) => {
            let n = s.len();
            if n < 32 {
                out.push(0xa0 | n as u8);
            } else if n <= 0xff {
                out.extend_from_slice(&[0xd9, n as u8]);
            } else if n <= 0xffff {
                out.push(0xda);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            } else {
                out.push(0xdb);
                out.extend_from_slice(&(n as u32).to_be_bytes());
            }
            out.extend_from_slice(s.as_bytes());
        }
        Value::Bin(b) => {
            let n = b.len();
            if n <= 0xff {
                out.extend_from_slice(&[0xc4, n as u8]);
            } else if n <= 0xffff {
                out.push(0xc5);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            } else {
                out.push(0xc6);
                out.extend_from_slice(&(n as u32).to_be_bytes());
            }
            out.extend_from_slice(b);
        }
        Value::Array(items) => {
            let n = items.len();
            if n < 16 {
                out.push(0x90 | n as u8);
            } else if n <= 0xffff {
                out.push(0xdc);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            } else {
                out.push(0xdd);
                out.extend_from_slice(&(n as u32).to_be_bytes());
            }
            for i in items {
                write(out, i);
            }
        }
    }
}

fn write_int(out: &mut Vec<u8>, i: i128) {
    if (0..=0x7f).contains(&i) {
        out.push(i as u8);
    } else if (-32..0).contains(&i) {
        out.push(i as i8 as u8);
    } else if i > 0 {
        if i <= 0xff {
            out.extend_from_slice(&[0xcc, i as u8]);
        } else if i <= 0xffff {
            out.push(0xcd);
            out.extend_from_slice(&(i as u16).to_be_bytes());
        } else if i <= 0xffff_ffff {
            out.push(0xce);
            out.extend_from_slice(&(i as u32).to_be_bytes());
        } else {
            out.push(0xcf);
            out.extend_from_slice(&(i.min(u64::MAX as i128) as u64).to_be_bytes());
        }
    } else if i >= i8::MIN as i128 {
        out.extend_from_slice(&[0xd0, i as i8 as u8]);
    } else if i >= i16::MIN as i128 {
        out.push(0xd1);
        out.extend_from_slice(&(i as i16).to_be_bytes());
    } else if i >= i32::MIN as i128 {
        out.push(0xd2);
        out.extend_from_slice(&(i as i32).to_be_bytes());
    } else {
        out.push(0xd3);
        out.extend_from_slice(&(i.max(i64::MIN as i128) as i64).to_be_bytes());
    }
}

/// Why bytes are not a payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("malformed msgpack payload")]
pub struct DecodeError;

const MAX_DEPTH: usize = 8;

/// Decodes exactly one value filling all of `bytes`.
///
/// # Errors
///
/// [`DecodeError`] for truncated input, trailing bytes, unsupported types (maps, ext),
/// invalid UTF-8 or nesting deeper than 8.
pub fn decode(bytes: &[u8]) -> Result<Value, DecodeError> {
    let mut r = Reader { b: bytes, pos: 0 };
    let v = r.value(0)?;
    if r.pos != bytes.len() {
        return Err(DecodeError);
    }
    Ok(v)
}

struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], DecodeError> {
        let end = self.pos.checked_add(n).ok_or(DecodeError)?;
        let s = self.b.get(self.pos..end).ok_or(DecodeError)?;
        self.pos = end;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }
    fn be<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        self.take(N)?.try_into().map_err(|_| DecodeError)
    }
    fn len(&mut self, bytes: usize) -> Result<usize, DecodeError> {
        Ok(match bytes {
            1 => self.u8()? as usize,
            2 => u16::from_be_bytes(self.be()?) as usize,
            _ => u32::from_be_bytes(self.be()?) as usize,
        })
    }
    fn str(&mut self, n: usize) -> Result<Value, DecodeError> {
        let s = self.take(n)?;
        Ok(Value::Str(std::str::from_utf8(s).map_err(|_| DecodeError)?.to_owned()))
    }
    fn array(&mut self, n: usize, depth: usize) -> Result<Value, DecodeError> {
        // Every element takes at least one byte: refuse counts the input cannot hold.
        if n > self.b.len() - self.pos {
            return Err(DecodeError);
        }
        let mut items = Vec::with_capacity(n);
        for _ in 0..n {
            items.push(self.value(depth + 1)?);
        }
        Ok(Value::Array(items))
    }
    fn value(&mut self, depth: usize) -> Result<Value, DecodeError> {
        if depth > MAX_DEPTH {
            return Err(DecodeError);
        }
        let t = self.u8()?;
        Ok(match t {
            0x00..=0x7f => Value::Int(t as i128),
            0xe0..=0xff => Value::Int(t as i8 as i128),
            0xa0..=0xbf => return self.str((t & 0x1f) as usize),
            0x90..=0x9f => return self.array((t & 0x0f) as usize, depth),
            0xc0 => Value::Nil,
            0xc2 => Value::Bool(false),
            0xc3 => Value::Bool(true),
            0xc4..=0xc6 => {
                let n = self.len(1 << (t - 0xc4))?;
                Value::Bin(self.take(n)?.to_vec())
            }
            0xca => Value::Float(f32::from_be_bytes(self.be()?) as f64),
            0xcb => Value::Float(f64::from_be_bytes(self.be()?)),
            0xcc => Value::Int(self.u8()? as i128),
            0xcd => Value::Int(u16::from_be_bytes(self.be()?) as i128),
            0xce => Value::Int(u32::from_be_bytes(self.be()?) as i128),
            0xcf => Value::Int(u64::from_be_bytes(self.be()?) as i128),
            0xd0 => Value::Int(self.u8()? as i8 as i128),
            0xd1 => Value::Int(i16::from_be_bytes(self.be()?) as i128),
            0xd2 => Value::Int(i32::from_be_bytes(self.be()?) as i128),
            0xd3 => Value::Int(i64::from_be_bytes(self.be()?) as i128),
            0xd9..=0xdb => {
                let n = self.len(1 << (t - 0xd9))?;
                return self.str(n);
            }
            0xdc | 0xdd => {
                let n = self.len(if t == 0xdc { 2 } else { 4 })?;
                return self.array(n, depth);
            }
            _ => return Err(DecodeError),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_like_python_msgpack() {
        // msgpack.packb((2, (True, b"\x01\x02"), 2, "default", 1.5, [-1, 300, 70000]))
        let v = Value::Array(vec![
            Value::Int(2),
            Value::Array(vec![Value::Bool(true), Value::Bin(vec![1, 2])]),
            Value::Int(2),
            Value::Str("default".into()),
            Value::Float(1.5),
            Value::Array(vec![Value::Int(-1), Value::Int(300), Value::Int(70000)]),
        ]);
        let bytes = encode(&v);
        let expected: &[u8] = &[
            0x96, 0x02, 0x92, 0xc3, 0xc4, 0x02, 0x01, 0x02, 0x02, 0xa7, b'd', b'e', b'f', b'a',
            b'u', b'l', b't', 0xcb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0, 0x93, 0xff, 0xcd, 0x01, 0x2c,
            0xce, 0x00, 0x01, 0x11, 0x70,
        ];
        assert_eq!(bytes, expected);
        assert_eq!(decode(&bytes).unwrap(), v);
    }

    #[test]
    fn hostile_inputs_are_errors() {
        for bad in [
            &[][..],
            &[0xdd, 0xff, 0xff, 0xff, 0xff],
            &[0x91],
            &[0xc1],
            &[0x80],
            &[0xa3, b'a'],
            &[0x01, 0x02],
        ] {
            assert_eq!(decode(bad), Err(DecodeError), "{bad:?}");
        }
        let deep = vec![0x91u8; 100];
        assert_eq!(decode(&deep), Err(DecodeError));
    }
}
