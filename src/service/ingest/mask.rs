//! ID numbers written into a record's free text, masked before anything stores, caches, pushes
//! or shows the record.

use serde_json::Value;

use crate::domain::NewRecord;

/// The free text of a record (names, the document number, the 双公示 details) keeps an ID
/// number written into it masked only: the person is named by the subject's encrypted number,
/// and text is shown, cached, pushed and kept in the history as it is stored.
pub(super) fn mask_free_text(r: &mut NewRecord) {
    fn mask(s: &mut String) {
        if let std::borrow::Cow::Owned(m) = crate::domain::id_number::mask_id_numbers(s) {
            *s = m;
        }
    }
    fn mask_value(v: &mut Value) {
        match v {
            Value::String(s) => mask(s),
            Value::Array(a) => a.iter_mut().for_each(mask_value),
            Value::Object(m) => {
                let entries = std::mem::take(m);
                for (mut k, mut v) in entries {
                    mask(&mut k);
                    mask_value(&mut v);
                    m.insert(k, v);
                }
            }
            // A number of 18 digits is too long for an exact JSON number; as text it is caught.
            _ => {}
        }
    }
    mask(&mut r.subject.name);
    if let Some(p) = &mut r.subject.legal_rep {
        mask(&mut p.name);
    }
    for s in [&mut r.decision_no, &mut r.authority.name]
        .into_iter()
        .flatten()
    {
        mask(s);
    }
    r.details.values_mut().for_each(mask_value);
    let keys: Vec<String> = r.details.keys().cloned().collect();
    for k in keys {
        let masked = crate::domain::id_number::mask_id_numbers(&k).into_owned();
        if masked != k {
            if let Some(v) = r.details.remove(&k) {
                r.details.insert(masked, v);
            }
        }
    }
}
