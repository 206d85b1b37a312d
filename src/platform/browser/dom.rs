//! The page-side scripts the browser runs (finding elements, reading text, the element
//! snapshot) and the key table for `pressKey`.

use serde_json::{json, Value};

/// A script expression that finds the element `selector` names: a CSS selector, optionally
/// ending in `:has-text("...")` or `:contains("...")` (the innermost element whose text
/// contains it), or an element reference `e<N>` from the last snapshot. Evaluates to the
/// element or `null`; throws on a selector the browser cannot parse.
pub fn find(selector: &str) -> String {
    let sel = json!(selector);
    format!(
        r#"((sel) => {{
  if (/^e\d+$/.test(sel)) return document.querySelector('[data-tron-ref="' + sel + '"]');
  const m = sel.match(/^(.*?):(?:has-text|contains)\(\s*(["']?)(.*?)\2\s*\)\s*$/);
  if (!m) return document.querySelector(sel);
  const all = [...document.querySelectorAll(m[1].trim() || '*')]
    .filter(e => (e.innerText || e.textContent || '').includes(m[3]));
  return all.find(e => !all.some(o => o !== e && e.contains(o))) || null;
}})({sel})"#
    )
}

/// Wraps `body` (which sees the element as `el`) so it runs on the element `selector`
/// names, or evaluates to `{"missing": true}` when there is none.
pub fn on_element(selector: &str, body: &str) -> String {
    format!("(() => {{ const el = {}; if (!el) return {{ missing: true }}; {body} }})()", find(selector))
}

/// Scrolls the element into view and returns the centre of its box (viewport pixels).
pub const CENTER: &str = "el.scrollIntoView({block: 'center', inline: 'center'}); \
    const r = el.getBoundingClientRect(); \
    return { x: r.left + r.width / 2, y: r.top + r.height / 2, w: r.width, h: r.height };";

/// Numbers every visible element a user can act on (`data-tron-ref="eN"`) and returns
/// the page's URL, title, those elements (ref, role, name) and the visible text.
pub const SNAPSHOT: &str = r#"(() => {
  document.querySelectorAll('[data-tron-ref]').forEach(e => e.removeAttribute('data-tron-ref'));
  const sel = 'a[href], button, input, textarea, select, summary, [role], [onclick], [contenteditable=""], [contenteditable="true"], h1, h2, h3, h4, h5, h6, img[alt], label';
  const roleOf = e => e.getAttribute('role') || ({A: 'link', BUTTON: 'button', INPUT: (e.type === 'checkbox' || e.type === 'radio') ? e.type : (e.type === 'submit' || e.type === 'button') ? 'button' : 'textbox', TEXTAREA: 'textbox', SELECT: 'combobox', SUMMARY: 'button', IMG: 'img', LABEL: 'label'})[e.tagName] || (/^H\d$/.test(e.tagName) ? 'heading' : e.tagName.toLowerCase());
  const nameOf = e => (e.getAttribute('aria-label') || e.getAttribute('alt') || e.getAttribute('placeholder') || e.getAttribute('title') || e.innerText || e.value || e.getAttribute('name') || '').trim().replace(/\s+/g, ' ').slice(0, 100);
  const elements = [];
  let n = 0;
  for (const e of document.querySelectorAll(sel)) {
    const r = e.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) continue;
    const ref = 'e' + (++n);
    e.setAttribute('data-tron-ref', ref);
    const item = { ref, role: roleOf(e), name: nameOf(e) };
    if (e.tagName === 'A') item.href = e.href;
    if ('value' in e && e.tagName !== 'BUTTON' && e.tagName !== 'LI') item.value = String(e.value);
    elements.push(item);
  }
  const text = (document.body ? document.body.innerText : '').slice(0, 20000);
  return { url: location.href, title: document.title, elements, content: text };
})()"#;

/// The CDP key event fields for a key name (`Enter`, `Tab`, `ArrowDown`, `a`, ...).
pub fn key(name: &str) -> Option<Value> {
    let named = |code: &str, vk: u32, text: &str| {
        Some(json!({ "key": name, "code": code, "windowsVirtualKeyCode": vk, "text": text }))
    };
    match name {
        "Enter" => named("Enter", 13, "\r"),
        "Tab" => named("Tab", 9, "\t"),
        "Escape" => named("Escape", 27, ""),
        "Backspace" => named("Backspace", 8, ""),
        "Delete" => named("Delete", 46, ""),
        "ArrowUp" => named("ArrowUp", 38, ""),
        "ArrowDown" => named("ArrowDown", 40, ""),
        "ArrowLeft" => named("ArrowLeft", 37, ""),
        "ArrowRight" => named("ArrowRight", 39, ""),
        "Home" => named("Home", 36, ""),
        "End" => named("End", 35, ""),
        "PageUp" => named("PageUp", 33, ""),
        "PageDown" => named("PageDown", 34, ""),
        "Space" | " " => {
            Some(json!({ "key": " ", "code": "Space", "windowsVirtualKeyCode": 32, "text": " " }))
        }
        _ => {
            let mut chars = name.chars();
            let (Some(c), None) = (chars.next(), chars.next()) else { return None };
            Some(char_key(c))
        }
    }
}

/// The key event fields that type the character `c`.
pub fn char_key(c: char) -> Value {
    let vk = if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() as u32 } else { 0 };
    json!({ "key": c.to_string(), "text": c.to_string(), "unmodifiedText": c.to_string(), "windowsVirtualKeyCode": vk })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_have_their_codes_and_unknown_names_none() {
        assert_eq!(key("Enter").unwrap()["windowsVirtualKeyCode"], 13);
        assert_eq!(key("Enter").unwrap()["text"], "\r");
        assert_eq!(key("ArrowDown").unwrap()["code"], "ArrowDown");
        assert_eq!(key("a").unwrap()["windowsVirtualKeyCode"], 65);
        assert_eq!(key("a").unwrap()["text"], "a");
        assert_eq!(key("Space").unwrap()["key"], " ");
        assert!(key("NoSuchKey").is_none() && key("").is_none());
    }

    #[test]
    fn selectors_are_embedded_as_json_strings() {
        let s = find("a[title=\"x'y\"]");
        assert!(s.contains(r#"})("a[title=\"x'y\"]")"#), "{s}");
    }
}
