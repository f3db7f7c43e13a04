// SPDX-License-Identifier: Apache-2.0
//! A tiny element tree rendered with quick-xml (every text and attribute escaped by the
//! writer, so names a tenant chooses can never inject markup), and the few reads the drivers
//! need from libvirt's live XML.

use quick_xml::Writer;
use quick_xml::events::{BytesText, Event};

/// One XML element: name, attributes in order, text, children.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Elem {
    /// The tag.
    pub name: String,
    /// Attributes, rendered in this order.
    pub attrs: Vec<(String, String)>,
    /// Text content (rendered before the children; libvirt never mixes both).
    pub text: Option<String>,
    /// Child elements.
    pub children: Vec<Elem>,
}

impl Elem {
    /// An empty element.
    pub fn new(name: &str) -> Self {
        Elem { name: name.into(), ..Elem::default() }
    }

    /// Adds an attribute.
    pub fn attr(mut self, k: &str, v: impl ToString) -> Self {
        self.attrs.push((k.into(), v.to_string()));
        self
    }

    /// Adds an attribute when `v` is `Some`.
    pub fn attr_opt(self, k: &str, v: Option<impl ToString>) -> Self {
        match v {
            Some(v) => self.attr(k, v),
            None => self,
        }
    }

    /// Sets the text.
    pub fn text(mut self, t: impl ToString) -> Self {
        self.text = Some(t.to_string());
        self
    }

    /// Adds a child.
    pub fn child(mut self, c: Elem) -> Self {
        self.children.push(c);
        self
    }

    /// Adds a child when `Some`.
    pub fn child_opt(mut self, c: Option<Elem>) -> Self {
        if let Some(c) = c {
            self.children.push(c);
        }
        self
    }

    /// Adds children.
    pub fn children(mut self, cs: impl IntoIterator<Item = Elem>) -> Self {
        self.children.extend(cs);
        self
    }

    /// Renders the element as indented XML (two spaces), with a trailing newline.
    pub fn render(&self) -> String {
        let mut w = Writer::new_with_indent(Vec::new(), b' ', 2);
        // Writing to a Vec cannot fail.
        let _ = write_elem(&mut w, self);
        let mut s = String::from_utf8(w.into_inner()).unwrap_or_default();
        s.push('\n');
        s
    }
}

fn write_elem(w: &mut Writer<Vec<u8>>, e: &Elem) -> std::io::Result<()> {
    let el = w
        .create_element(e.name.as_str())
        .with_attributes(e.attrs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    if e.text.is_none() && e.children.is_empty() {
        el.write_empty()?;
    } else if e.children.is_empty() {
        el.write_text_content(BytesText::new(e.text.as_deref().unwrap_or_default()))?;
    } else {
        el.write_inner_content(|w| {
            if let Some(t) = &e.text {
                w.write_event(Event::Text(BytesText::new(t)))?;
            }
            for c in &e.children {
                write_elem(w, c)?;
            }
            Ok(())
        })?;
    }
    Ok(())
}

/// The attributes of every element named `name` whose ancestors are exactly `path` (outermost
/// first, the root included), from a libvirt XML document. Malformed XML yields what was read
/// before the error.
pub fn find_attrs(xml: &str, path: &[&str], name: &str) -> Vec<Vec<(String, String)>> {
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut stack: Vec<String> = Vec::new();
    let mut out = Vec::new();
    while let Ok(ev) = reader.read_event() {
        match ev {
            Event::Start(ref s) | Event::Empty(ref s) => {
                let tag = AsRef::<str>::as_ref(&s.local_name()).to_string();
                if tag == name && stack.iter().map(String::as_str).eq(path.iter().copied()) {
                    let attrs = s
                        .attributes()
                        .flatten()
                        .map(|a| {
                            let k = AsRef::<str>::as_ref(&a.key.local_name()).to_string();
                            let v = a
                                .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                                .map(|v| v.into_owned())
                                .unwrap_or_default();
                            (k, v)
                        })
                        .collect();
                    out.push(attrs);
                }
                if matches!(ev, Event::Start(_)) {
                    stack.push(tag);
                }
            }
            Event::End(_) => {
                stack.pop();
            }
            Event::Eof => break,
            _ => {}
        }
    }
    out
}

/// The value of attribute `key` in a list from [`find_attrs`].
pub fn attr<'a>(attrs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    attrs.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// Removes from a domain XML every `<devices>` child named `name` that has a child `child`
/// with attribute `key` equal to `value` (a `<disk>` by `<target dev>`, an `<interface>` by
/// `<mac address>`). Returns the new XML and how many elements were removed.
pub fn remove_device(
    xml: &str,
    name: &str,
    child: &str,
    key: &str,
    value: &str,
) -> Result<(String, usize), quick_xml::Error> {
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut w = Writer::new(Vec::new());
    let mut depth = 0usize;
    let mut removed = 0;
    let mut held: Option<Vec<Event<'static>>> = None;
    let mut held_depth = 0usize;
    let mut matched = false;
    loop {
        let ev = reader.read_event()?;
        if matches!(ev, Event::Eof) {
            break;
        }
        if let Some(buf) = held.as_mut() {
            match &ev {
                Event::Start(s) | Event::Empty(s) => {
                    if AsRef::<str>::as_ref(&s.local_name()) == child {
                        matched |= s.attributes().flatten().any(|a| {
                            AsRef::<str>::as_ref(&a.key.local_name()) == key
                                && a.normalized_value(quick_xml::XmlVersion::Implicit1_0)
                                    .map(|v| v == value)
                                    .unwrap_or(false)
                        });
                    }
                    if matches!(ev, Event::Start(_)) {
                        held_depth += 1;
                    }
                }
                Event::End(_) => held_depth -= 1,
                _ => {}
            }
            buf.push(ev.into_owned());
            if held_depth == 0 {
                let buf = held.take().unwrap_or_default();
                if matched {
                    removed += 1;
                } else {
                    for e in buf {
                        w.write_event(e)?;
                    }
                }
                matched = false;
            }
            continue;
        }
        match &ev {
            Event::Start(s) if depth == 2 && AsRef::<str>::as_ref(&s.local_name()) == name => {
                held = Some(vec![ev.into_owned()]);
                held_depth = 1;
                continue;
            }
            Event::Start(_) => depth += 1,
            Event::End(_) => depth = depth.saturating_sub(1),
            _ => {}
        }
        w.write_event(ev)?;
    }
    Ok((String::from_utf8(w.into_inner()).unwrap_or_default(), removed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_attributes_are_escaped() {
        let e = Elem::new("name").attr("a", "x'\"<&").text("<evil/>&");
        let s = e.render();
        assert!(!s.contains("<evil/>"), "{s}");
        assert!(s.contains("&lt;evil/&gt;&amp;"), "{s}");
        let back = find_attrs(&s, &[], "name");
        assert_eq!(attr(&back[0], "a"), Some("x'\"<&"));
    }

    #[test]
    fn find_attrs_matches_the_path_exactly() {
        let xml = "<domain><devices><graphics type='vnc' port='5901'/><x><graphics type='no'/></x></devices></domain>";
        let found = find_attrs(xml, &["domain", "devices"], "graphics");
        assert_eq!(found.len(), 1);
        assert_eq!(attr(&found[0], "port"), Some("5901"));
        assert!(find_attrs("<broken", &["domain"], "x").is_empty());
    }

    #[test]
    fn remove_device_removes_only_the_matching_one() {
        let xml = "<domain><name>d</name><devices><disk type='file'><target dev='vda'/></disk>\
                   <disk type='file'><target dev='vdb'/></disk><interface type='ethernet'/></devices></domain>";
        let (out, n) = remove_device(xml, "disk", "target", "dev", "vdb").unwrap();
        assert_eq!(n, 1);
        assert!(out.contains("vda") && !out.contains("vdb") && out.contains("<interface"), "{out}");
        let (_, n) = remove_device(xml, "disk", "target", "dev", "vdc").unwrap();
        assert_eq!(n, 0);
    }
}
