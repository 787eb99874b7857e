//! The page frame, the stylesheet (served by the binary; no CDN), and small shared pieces.

use actix_web::http::header;
use actix_web::HttpResponse;
use maud::{html, Markup, DOCTYPE};

use crate::domain::FieldError;
use crate::service::access::{self, Operation};
use crate::service::people::Session;

/// Screen: readable from a phone to a 1366×768 laptop. Print: A4 with the report alone.
/// Colours meet WCAG AA contrast (4.5:1 or more for text) on white.
const CSS: &str = r#"
:root { --ink:#1b1f24; --muted:#4a5562; --line:#c9d1da; --accent:#0b4f8a; --bad:#a1131b; --warn:#8a4b00; --ok:#1d6b31; }
* { box-sizing: border-box; }
body { margin:0; font-family: "Noto Sans CJK SC","Source Han Sans SC","PingFang SC","Microsoft YaHei",sans-serif; color:var(--ink); background:#f6f8fa; line-height:1.6; font-size:16px; }
a { color:var(--accent); }
a:focus, button:focus, input:focus, select:focus, textarea:focus { outline:3px solid #f0b400; outline-offset:2px; }
.skip { position:absolute; left:-9999px; } .skip:focus { left:1rem; top:1rem; background:#fff; padding:.5rem; z-index:9; }
header.top { background:#0b2e4f; color:#fff; padding:.6rem 1rem; display:flex; flex-wrap:wrap; gap:.5rem 1.5rem; align-items:center; }
header.top a { color:#fff; text-decoration:none; } header.top a:hover { text-decoration:underline; }
header.top .brand { font-weight:700; font-size:1.1rem; }
header.top nav { display:flex; flex-wrap:wrap; gap:.3rem 1rem; }
header.top form { margin:0 0 0 auto; }
header.top button { background:transparent; color:#fff; border:1px solid #fff; padding:.2rem .7rem; border-radius:4px; cursor:pointer; }
main { max-width:1100px; margin:0 auto; padding:1rem; }
h1 { font-size:1.5rem; margin:.5rem 0 1rem; } h2 { font-size:1.2rem; margin:1.5rem 0 .5rem; } h3 { font-size:1.05rem; margin:.8rem 0 .3rem; }
.card { background:#fff; border:1px solid var(--line); border-radius:6px; padding:1rem; margin:0 0 1rem; }
label { display:block; font-weight:600; margin:.8rem 0 .2rem; }
input[type=text], input[type=password], input[type=date], select, textarea { width:100%; max-width:32rem; padding:.5rem; font-size:1rem; border:1px solid #6b7785; border-radius:4px; background:#fff; color:var(--ink); }
textarea { min-height:6rem; }
.hint { color:var(--muted); font-size:.9rem; margin:.1rem 0; }
.field-error { color:var(--bad); font-weight:600; margin:.2rem 0; }
input[aria-invalid=true], select[aria-invalid=true], textarea[aria-invalid=true] { border:2px solid var(--bad); }
button, .button { display:inline-block; background:var(--accent); color:#fff; border:0; border-radius:4px; padding:.55rem 1.2rem; font-size:1rem; cursor:pointer; text-decoration:none; margin:.8rem .5rem 0 0; }
.button.secondary, button.secondary { background:#fff; color:var(--accent); border:1px solid var(--accent); }
.alert { border-left:5px solid var(--bad); background:#fff4f4; padding:.7rem 1rem; margin:0 0 1rem; }
.notice { border-left:5px solid var(--accent); background:#eef5fc; padding:.7rem 1rem; margin:0 0 1rem; }
.verdict { font-size:1.4rem; font-weight:700; padding:.6rem 1rem; border-radius:6px; display:inline-block; margin:.3rem 0; }
.verdict.clear { background:#e7f4ea; color:var(--ok); } .verdict.review { background:#fff3e0; color:var(--warn); }
.verdict.restricted { background:#fff3e0; color:var(--warn); } .verdict.prohibited { background:#fde8e9; color:var(--bad); }
dl.facts { display:grid; grid-template-columns:minmax(7rem,max-content) 1fr; gap:.2rem 1rem; margin:0; }
dl.facts dt { color:var(--muted); } dl.facts dd { margin:0; overflow-wrap:anywhere; }
table { border-collapse:collapse; width:100%; background:#fff; }
th, td { border:1px solid var(--line); padding:.4rem .5rem; text-align:left; vertical-align:top; overflow-wrap:anywhere; }
th { background:#eef1f4; }
.finding { border:1px solid var(--line); border-left:5px solid var(--warn); border-radius:4px; padding:.6rem .9rem; margin:.6rem 0; background:#fff; }
.finding.prohibit { border-left-color:var(--bad); } .finding.incentive { border-left-color:var(--ok); }
.tag { display:inline-block; font-size:.85rem; padding:0 .4rem; border-radius:3px; background:#eef1f4; color:var(--ink); margin-right:.3rem; }
.tag.objection { background:#fff3e0; color:var(--warn); font-weight:600; }
.qr svg { width:9rem; height:9rem; }
.report-head { display:flex; flex-wrap:wrap; gap:1rem; align-items:flex-start; } .report-head dl { flex:1 1 22rem; } .qr { flex:0 0 12rem; }
fieldset { border:1px solid var(--line); border-radius:4px; padding:.2rem 1rem .8rem; margin:0; } legend { font-weight:700; padding:0 .3rem; }
.mono { font-family: ui-monospace, "DejaVu Sans Mono", monospace; overflow-wrap:anywhere; }
.actions form { display:inline; }
@media (max-width:640px) { dl.facts { grid-template-columns:1fr; } header.top form { margin:0; } main { padding:.6rem; } }
@page { size:A4; margin:15mm; }
@media print {
  body { background:#fff; font-size:11pt; }
  header.top, .no-print, .actions, .skip { display:none !important; }
  main { max-width:none; padding:0; }
  .card, .finding { border-color:#888; break-inside:avoid; }
  a { color:inherit; text-decoration:none; }
}
"#;

pub async fn stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(CSS)
}

/// The menu: each entry shown to those whose role may do its operation.
const MENU: &[(&Operation, &str, &str)] = &[
    (&access::RUN_CHECK, "/console/checks/new", "新建核查"),
    (&access::READ_REPORT, "/console/reports", "核查报告"),
    (&access::READ_PROFILE, "/console/subjects", "主体信用档案"),
    (&access::READ_OBJECTIONS, "/console/objections", "异议"),
];

/// A whole page: the top bar with the person's menu when signed in, then `body`.
pub fn page(title: &str, s: Option<&Session>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="zh-CN" {
            (head(&format!("{title} · 信用信息查询与联合惩戒 creditgate")))
            body {
                a.skip href="#main" { "跳到正文" }
                header.top {
                    a.brand href="/console/" { "信用核查 creditgate" }
                    @if let Some(s) = s {
                        @if !s.person.must_change {
                            nav aria-label="主菜单" {
                                @for (op, href, label) in MENU {
                                    @if op.allows(&s.person.caller()).is_ok() {
                                        a href=(href) { (label) }
                                    }
                                }
                                a href="/console/password" { "修改密码" }
                            }
                        }
                        form method="post" action="/console/sign-out" {
                            input type="hidden" name="csrf" value=(s.csrf);
                            span { (s.person.login) "（" (super::words::role(s.person.role.as_str())) "）" }
                            " "
                            button type="submit" { "退出" }
                        }
                    }
                }
                main id="main" { (body) }
            }
        }
    }
}

/// The `<head>` of every page: the stylesheet the binary serves, a phone's viewport.
pub fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) }
            link rel="stylesheet" href="/console/static/console.css";
        }
    }
}

/// A page that only says something (errors, refusals).
pub fn message(s: Option<&Session>, title: &str, text: &str) -> Markup {
    page(
        title,
        s,
        html! {
            h1 { (title) }
            div.alert role="alert" { p { (text) } }
            p { a href="/console/" { "返回首页" } }
        },
    )
}

/// The messages for one field, shown next to it (one element, named by the field's
/// `aria-describedby`).
pub fn field_errors(errors: &[FieldError], field: &str) -> Markup {
    let mine: Vec<&FieldError> = errors.iter().filter(|e| e.field == field).collect();
    html! {
        @if !mine.is_empty() {
            div.field-error id={ (field) "-error" } {
                @for e in &mine { p { (e.message) } }
            }
        }
    }
}

/// Whether any error is about `field` (for `aria-invalid`).
pub fn invalid(errors: &[FieldError], field: &str) -> bool {
    errors.iter().any(|e| e.field == field)
}

/// A summary of every error at the top of a form, for screen readers and for errors about no
/// field of the form.
pub fn error_summary(errors: &[FieldError]) -> Markup {
    html! {
        @if !errors.is_empty() {
            div.alert role="alert" {
                p { "请更正以下问题后重新提交：" }
                ul { @for e in errors { li { (e.message) } } }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    /// The stylesheet's colour variables, by name.
    fn palette() -> std::collections::BTreeMap<String, String> {
        let root = &super::CSS[super::CSS.find(":root").unwrap()..];
        let root = &root[root.find('{').unwrap() + 1..root.find('}').unwrap()];
        root.split(';')
            .filter_map(|d| d.split_once(':'))
            .filter_map(|(k, v)| {
                let k = k.trim().strip_prefix("--")?;
                Some((k.to_string(), v.trim().to_string()))
            })
            .map(|(k, v)| (k, v.trim_start_matches('#').to_string()))
            .collect()
    }

    fn luminance(hex: &str) -> f64 {
        let c = |i: usize| {
            let v = u8::from_str_radix(&hex[i..i + 2], 16).unwrap() as f64 / 255.0;
            if v <= 0.03928 {
                v / 12.92
            } else {
                ((v + 0.055) / 1.055).powf(2.4)
            }
        };
        0.2126 * c(0) + 0.7152 * c(2) + 0.0722 * c(4)
    }

    fn contrast(a: &str, b: &str) -> f64 {
        let (x, y) = (luminance(a), luminance(b));
        (x.max(y) + 0.05) / (x.min(y) + 0.05)
    }

    /// WCAG 2.1 AA: 4.5:1 for text. Every pair of text and background the stylesheet uses.
    #[test]
    fn text_has_enough_contrast() {
        let p = palette();
        let v = |n: &str| p.get(n).unwrap_or_else(|| panic!("--{n}")).clone();
        let pairs = [
            (v("ink"), "ffffff".to_string()),
            (v("ink"), "f6f8fa".into()),
            (v("ink"), "eef1f4".into()),
            (v("ink"), "eef5fc".into()),
            (v("muted"), "ffffff".into()),
            (v("muted"), "f6f8fa".into()),
            (v("accent"), "ffffff".into()),
            (v("accent"), "f6f8fa".into()),
            ("ffffff".into(), v("accent")),
            ("ffffff".into(), "0b2e4f".into()),
            (v("bad"), "fde8e9".into()),
            (v("bad"), "fff4f4".into()),
            (v("warn"), "fff3e0".into()),
            (v("ok"), "e7f4ea".into()),
        ];
        for (fg, bg) in pairs {
            let r = contrast(&fg, &bg);
            assert!(r >= 4.5, "#{fg} on #{bg}: {r:.2}:1");
        }
        // The backgrounds named above are the ones the stylesheet uses.
        for bg in [
            "f6f8fa", "eef1f4", "eef5fc", "0b2e4f", "fde8e9", "fff4f4", "fff3e0", "e7f4ea",
        ] {
            assert!(super::CSS.contains(bg), "{bg} no longer in the stylesheet");
        }
    }
}
