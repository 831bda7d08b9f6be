//! Server-rendered pages: readable without JavaScript, no request to any other host (inline CSS,
//! inline SVG). Every piece of user text goes through [`esc`].

use std::fmt::Write;

use super::index::{Index, OutputEntry, ProductEntry};
use super::lineage::{self, Graph};
use super::query::Params;
use crate::api::Column;

/// Products per page of the list.
pub const PAGE_SIZE: usize = 50;

/// Escapes text for HTML element content and quoted attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Percent-encodes a path segment or query value.
pub fn url_enc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

fn product_href(reference: &str) -> String {
    match reference.split_once('/') {
        Some((ns, name)) => format!("/products/{}/{}", url_enc(ns), url_enc(name)),
        None => "/".into(),
    }
}

const CSS: &str = r#"
:root{--fg:#1b1f24;--muted:#57606a;--line:#d0d7de;--bg:#fff;--soft:#f6f8fa;--link:#0550ae;--focus:#bf3989}
*{box-sizing:border-box}
body{font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg);margin:0}
a{color:var(--link)}
a:focus,button:focus,input:focus,select:focus,summary:focus,.scroll:focus{outline:3px solid var(--focus);outline-offset:2px}
header.site{background:#24292f;color:#fff;padding:.5rem 1rem;display:flex;gap:1.5rem;align-items:center;flex-wrap:wrap}
header.site a{color:#fff;text-decoration:none;font-weight:600}
header.site a:hover{text-decoration:underline}
.skip{position:absolute;left:-999px}.skip:focus{left:1rem;top:.5rem;background:#fff;color:#000;padding:.25rem .5rem;z-index:2}
main{max-width:72rem;margin:0 auto;padding:1rem}
h1{font-size:1.75rem;margin:.5rem 0}h2{font-size:1.35rem;margin-top:2rem;border-bottom:1px solid var(--line)}h3{font-size:1.1rem}
form.search{display:flex;flex-wrap:wrap;gap:.75rem;align-items:flex-end;background:var(--soft);padding:.75rem;border:1px solid var(--line);border-radius:6px}
form.search label{display:flex;flex-direction:column;font-size:.875rem;font-weight:600}
input,select,button{font:inherit;padding:.3rem .5rem;border:1px solid var(--line);border-radius:4px;background:#fff}
button{cursor:pointer;background:#eef1f4}
ul.products{list-style:none;padding:0}
ul.products li{border-bottom:1px solid var(--line);padding:.75rem 0}
ul.products h2{font-size:1.1rem;border:0;margin:0}
.meta{color:var(--muted);font-size:.875rem}
.badge{display:inline-block;font-size:.75rem;font-weight:600;padding:0 .5rem;border-radius:1rem;border:1px solid;margin-right:.25rem;vertical-align:middle}
.b-ready,.b-fresh,.b-granted,.b-approved{color:#116329;border-color:#4ac26b;background:#dafbe1}
.b-degraded,.b-stale,.b-pending,.b-provisioning{color:#7d4e00;border-color:#d4a72c;background:#fff8c5}
.b-invalid,.b-denied,.b-expired,.b-revoked,.b-deleting,.b-deprecated{color:#82071e;border-color:#ff8182;background:#ffebe9}
.b-unknown,.b-none{color:var(--muted);border-color:var(--line);background:var(--soft)}
.b-pii{color:#fff;background:#cf222e;border-color:#cf222e}
.b-stage{color:#0a3069;border-color:#54aeff;background:#ddf4ff}
.banner{border:2px solid #cf222e;background:#ffebe9;padding:.75rem 1rem;border-radius:6px;margin:1rem 0}
.warn{border:2px solid #d4a72c;background:#fff8c5;padding:.75rem 1rem;border-radius:6px;margin:1rem 0}
table{border-collapse:collapse;width:100%;margin:.5rem 0 1rem;font-size:.9rem}
th,td{border:1px solid var(--line);padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:var(--soft)}
caption{text-align:left;font-weight:600;padding:.25rem 0}
code,pre{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.875rem}
pre{background:var(--soft);border:1px solid var(--line);padding:.75rem;overflow:auto;border-radius:6px;user-select:text;white-space:pre-wrap}
.example{margin:1rem 0;display:flex;flex-wrap:wrap;align-items:center;gap:.25rem .75rem}
.example figcaption{font-weight:600}
.example pre{flex:1 1 100%;margin:0}
pre,code{overflow-wrap:anywhere}td,th,h1,h2,h3{overflow-wrap:break-word}
.badge{white-space:nowrap}
.scroll{overflow-x:auto;margin:.5rem 0 1rem}.scroll table{margin:0}
@media (max-width:40rem){main{padding:.75rem .5rem}table{font-size:.8rem}th,td{padding:.2rem .3rem}}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem}
dl.facts dt{font-weight:600}dl.facts dd{margin:0}
nav.pages{display:flex;gap:1rem;margin:1rem 0}
.lineage{overflow:auto;border:1px solid var(--line);border-radius:6px;background:#fff}
.legend span{margin-right:1rem}
"#;

const SCRIPT: &str = r#"
document.querySelectorAll('button.copy').forEach(function(b){
  b.hidden=false;
  b.addEventListener('click',function(){
    var t=document.getElementById(b.getAttribute('data-target'));
    if(!t||!navigator.clipboard){return;}
    navigator.clipboard.writeText(t.innerText).then(function(){b.textContent='Copied';setTimeout(function(){b.textContent='Copy';},1500);});
  });
});
"#;

/// Wraps every table in a box that scrolls sideways on its own, so a wide table never widens
/// the page on a phone; the box takes focus so the keyboard can scroll it too.
fn scrolling_tables(body: &str) -> String {
    let mut out = String::with_capacity(body.len() + 1024);
    for (i, part) in body.split("<table>").enumerate() {
        if i > 0 {
            // Numbered: landmarks need distinct names.
            let _ = write!(
                out,
                r#"<div class="scroll" role="region" aria-label="Table {i} (scrolls sideways)" tabindex="0"><table>"#
            );
        }
        out.push_str(part);
    }
    out.replace("</table>", "</table></div>")
}

fn page(title: &str, body: &str) -> String {
    let body = scrolling_tables(body);
    format!(
        r##"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · Data product catalogue</title>
<link rel="icon" href="data:,">
<style>{CSS}</style>
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header class="site"><a href="/">Data product catalogue</a><nav aria-label="Site"><a href="/">Products</a> · <a href="/lineage">Lineage</a> · <a href="/openapi.json">API</a></nav></header>
<main id="main">
{body}
</main>
<script>{SCRIPT}</script>
</body>
</html>
"##,
        title = esc(title)
    )
}

fn badge(kind: &str, text: &str) -> String {
    let class: String = kind
        .to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect();
    format!(r#"<span class="badge b-{class}">{}</span>"#, esc(text))
}

fn phase_badge(phase: Option<&str>) -> String {
    match phase {
        Some(p) => badge(p, &format!("Phase: {p}")),
        None => badge("unknown", "Phase: unknown (files)"),
    }
}

fn freshness_badge(f: &str) -> String {
    badge(f, &format!("Freshness: {f}"))
}

/// The stage badge; nothing for a template without a stage.
fn stage_badge(stage: Option<&str>) -> String {
    stage
        .map(|s| format!("{} ", badge("stage", &format!("Stage: {s}"))))
        .unwrap_or_default()
}

/// `/`: the list with search and filters, [`PAGE_SIZE`] per page.
pub fn list(index: &Index, params: &Params) -> String {
    let filter = params.filter();
    let facets = index.facets();
    let found = index.search(&filter);
    let pages = found.len().div_ceil(PAGE_SIZE).max(1);
    let page_no = params
        .get("page")
        .and_then(|p| p.trim().parse::<usize>().ok())
        .unwrap_or(1)
        .clamp(1, pages);
    let mut b = String::new();
    b.push_str("<h1>Data products</h1>\n");
    let select = |name: &str,
                  label: &str,
                  values: &std::collections::BTreeSet<String>,
                  current: &str| {
        let mut s = format!(
            r#"<label for="f-{name}">{label}<select id="f-{name}" name="{name}"><option value="">Any</option>"#
        );
        for v in values {
            let sel = if v.eq_ignore_ascii_case(current) {
                " selected"
            } else {
                ""
            };
            let _ = write!(s, r#"<option value="{0}"{sel}>{0}</option>"#, esc(v));
        }
        s.push_str("</select></label>");
        s
    };
    let _ = write!(
        b,
        r#"<form class="search" method="get" action="/" role="search">
<label for="f-q">Search<input id="f-q" type="search" name="q" value="{}" placeholder="names, descriptions, columns"></label>
{}{}{}{}{}
<button type="submit">Search</button> <a href="/">Clear</a>
</form>
"#,
        esc(&filter.q),
        select("domain", "Domain", &facets.domains, &filter.domain),
        select("owner", "Owner", &facets.owners, &filter.owner),
        select("layer", "Layer", &facets.layers, &filter.layer),
        select("tag", "Tag", &facets.tags, &filter.tag),
        // Only a mesh with stages gets the menu; a stage asked for in the URL stays selectable.
        if facets.stages.is_empty() && filter.stage.is_empty() {
            String::new()
        } else {
            select("stage", "Stage", &facets.stages, &filter.stage)
        },
    );
    let _ = writeln!(
        b,
        r#"<p class="meta" role="status">{} product{} found{}.</p>"#,
        found.len(),
        if found.len() == 1 { "" } else { "s" },
        if index.live {
            ", live from the cluster"
        } else {
            ", from files (no live status)"
        }
    );
    b.push_str(r#"<ul class="products">"#);
    for p in found.iter().skip((page_no - 1) * PAGE_SIZE).take(PAGE_SIZE) {
        let _ = write!(
            b,
            r#"<li><h2><a href="{href}">{ns}/<wbr>{name}</a></h2>
<p>{stage}{phase} {fresh}{dep}{class}</p>
<p>{desc}</p>
<p class="meta">Domain {domain} · Owner {owner} · Outputs: {outputs}</p></li>
"#,
            href = product_href(&p.product_ref()),
            stage = stage_badge(p.stage.as_deref()),
            ns = esc(&p.namespace),
            name = esc(&p.name),
            phase = phase_badge(p.phase.as_deref()),
            fresh = freshness_badge(&p.freshness),
            dep = if p.deprecation.is_some() {
                badge("deprecated", "Deprecated")
            } else {
                String::new()
            },
            class = if p.class == "core" {
                badge("none", "Core")
            } else {
                String::new()
            },
            desc = esc(&p.description),
            domain = esc(&p.domain),
            owner = esc(&p.owner.team),
            outputs = esc(&p
                .outputs
                .iter()
                .map(|o| o.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")),
        );
    }
    b.push_str("</ul>\n");
    if pages > 1 {
        let base = format!(
            "/?q={}&domain={}&owner={}&layer={}&tag={}{}",
            url_enc(&filter.q),
            url_enc(&filter.domain),
            url_enc(&filter.owner),
            url_enc(&filter.layer),
            url_enc(&filter.tag),
            if filter.stage.is_empty() {
                String::new()
            } else {
                format!("&stage={}", url_enc(&filter.stage))
            }
        );
        b.push_str(r#"<nav class="pages" aria-label="Pages">"#);
        if page_no > 1 {
            let _ = write!(
                b,
                r#"<a rel="prev" href="{}&page={}">Previous</a>"#,
                esc(&base),
                page_no - 1
            );
        }
        let _ = write!(b, "<span>Page {page_no} of {pages}</span>");
        if page_no < pages {
            let _ = write!(
                b,
                r#"<a rel="next" href="{}&page={}">Next</a>"#,
                esc(&base),
                page_no + 1
            );
        }
        b.push_str("</nav>\n");
    }
    page("Data products", &b)
}

fn deprecation_banner(what: &str, d: &crate::api::Deprecation) -> String {
    let mut s = format!(
        r#"<div class="banner" role="alert"><strong>Deprecated:</strong> {} goes away after {} (announced {})."#,
        esc(what),
        esc(&d.sunset),
        esc(&d.announced)
    );
    if let Some(r) = &d.replaced_by {
        let _ = write!(s, " Move to <strong>{}</strong>.", esc(r));
    }
    if let Some(r) = &d.reason {
        let _ = write!(s, " {}", esc(r));
    }
    s.push_str("</div>\n");
    s
}

fn columns_table(caption: &str, cols: &[Column]) -> String {
    let mut s = format!(
        r#"<table><caption>{}</caption><thead><tr><th scope="col">Column</th><th scope="col">Type</th><th scope="col">Description</th><th scope="col">Example</th><th scope="col">PII</th></tr></thead><tbody>"#,
        esc(caption)
    );
    for c in cols {
        let _ = write!(
            s,
            "<tr><th scope=\"row\"><code>{}</code></th><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&c.name),
            esc(&c.type_),
            esc(&c.description),
            c.example
                .as_deref()
                .map(|e| format!("<code>{}</code>", esc(e)))
                .unwrap_or_default(),
            if c.pii {
                badge("pii", "PII")
            } else {
                "no".into()
            }
        );
    }
    s.push_str("</tbody></table>\n");
    s
}

fn output_section(p: &ProductEntry, o: &OutputEntry, n: usize) -> String {
    let mut s = format!(
        r#"<section aria-labelledby="out-{n}"><h3 id="out-{n}">Output <code>{}</code></h3>"#,
        esc(&o.name)
    );
    let observed = match (&o.last_updated, &o.freshness_source) {
        (Some(at), Some(source)) => {
            format!("Freshness: {} (updated {at}, from {source})", o.freshness)
        }
        (Some(at), None) => format!("Freshness: {} (updated {at})", o.freshness),
        _ => format!("Freshness: {}", o.freshness),
    };
    let _ = write!(s, "<p>{}</p>", badge(&o.freshness, &observed));
    if let Some(d) = &o.deprecation {
        s.push_str(&deprecation_banner(&format!("Output {}", o.name), d));
    }
    let _ = write!(
        s,
        "<p>{}</p><dl class=\"facts\"><dt>URN</dt><dd><code>{}</code></dd><dt>Layer</dt><dd>{} ({})</dd><dt>Format</dt><dd>{}</dd><dt>Version</dt><dd>{}</dd>",
        esc(&o.description),
        esc(&o.urn),
        esc(&o.layer),
        if o.public { "public" } else { "private to the domain" },
        esc(&o.format),
        o.version
    );
    if let Some(g) = &o.granularity {
        let _ = write!(s, "<dt>Granularity</dt><dd>{}</dd>", esc(g));
    }
    match &o.sql {
        Some(sql) => {
            let _ = write!(
                s,
                "<dt>Query with</dt><dd>Athena in <code>{}</code>: database <code>{}</code>, table <code>{}</code> (<code>{}</code>)</dd>",
                esc(&sql.region),
                esc(&sql.database),
                esc(&sql.table),
                esc(&sql.qualified_name)
            );
        }
        None => {
            s.push_str("<dt>Query with</dt><dd>not provisioned: the product cannot be planned</dd>")
        }
    }
    s.push_str("</dl>\n");
    s.push_str(&columns_table(&format!("Schema of {}", o.name), &o.schema));
    if !o.partition_keys.is_empty() {
        s.push_str(&columns_table(
            &format!("Partition keys of {}", o.name),
            &o.partition_keys,
        ));
    }
    let mut examples: Vec<(String, String)> = Vec::new();
    if let Some(sql) = &o.sql {
        examples.push(("First rows".into(), sql.example.clone()));
    }
    examples.extend(
        o.examples
            .iter()
            .map(|e| (e.title.clone(), e.sql.trim().to_string())),
    );
    if !examples.is_empty() {
        s.push_str("<h4>Example queries</h4>");
        if let Some(sql) = &o.sql {
            let _ = write!(
                s,
                "<p class=\"meta\">Examples name the table as <code>{}</code>; in Athena select the database <code>{}</code> or write <code>{}</code>.</p>",
                esc(&o.name),
                esc(&sql.database),
                esc(&sql.qualified_name)
            );
        }
        for (i, (title, sql)) in examples.iter().enumerate() {
            let id = format!("sql-{}-{n}-{i}", url_enc(&p.name));
            let _ = write!(
                s,
                r#"<figure class="example"><figcaption>{}</figcaption><button type="button" class="copy" data-target="{id}" hidden aria-label="Copy query: {}">Copy</button><pre><code id="{id}">{}</code></pre></figure>"#,
                esc(title),
                esc(title),
                esc(sql)
            );
        }
    }
    s.push_str("</section>\n");
    s
}

fn access_yaml(p: &ProductEntry) -> String {
    let outputs: Vec<&str> = p
        .outputs
        .iter()
        .filter(|o| o.public)
        .map(|o| o.name.as_str())
        .collect();
    let outputs = if outputs.is_empty() {
        p.outputs
            .iter()
            .map(|o| o.name.as_str())
            .collect::<Vec<_>>()
    } else {
        outputs
    };
    format!(
        "apiVersion: dataproducts.io/v1alpha1\nkind: DataProductAccess\nmetadata:\n  name: YOUR-PRODUCT-reads-{name}\n  namespace: YOUR-NAMESPACE\nspec:\n  product: {ns}/{name}\n  outputs: [{outs}]\n  consumer:\n    product: YOUR-NAMESPACE/YOUR-PRODUCT   # or principal: arn:aws:iam::ACCOUNT:role/ROLE\n  purpose: WHY YOU NEED THE DATA\n  expires: \"YYYY-MM-DD\"\n",
        ns = p.namespace,
        name = p.name,
        outs = outputs.join(", ")
    )
}

/// `/products/{namespace}/{name}`.
pub fn product(index: &Index, p: &ProductEntry) -> String {
    let mut b = String::new();
    let _ = write!(
        b,
        "<h1>{}/<wbr>{}</h1><p>{}{} {}{}</p>",
        esc(&p.namespace),
        esc(&p.name),
        stage_badge(p.stage.as_deref()),
        phase_badge(p.phase.as_deref()),
        freshness_badge(&p.freshness),
        if p.class == "core" {
            badge("none", "Core")
        } else {
            String::new()
        }
    );
    if let Some(d) = &p.deprecation {
        b.push_str(&deprecation_banner(
            &format!("Data product {}", p.product_ref()),
            d,
        ));
    }
    if !p.violations.is_empty() {
        let _ = write!(
            b,
            r#"<div class="warn" role="alert"><strong>Not provisioned ({}):</strong><ul>"#,
            esc(p.refusal.as_deref().unwrap_or("refused"))
        );
        for v in &p.violations {
            let _ = write!(b, "<li>{}</li>", esc(v));
        }
        b.push_str("</ul></div>");
    }
    let _ = write!(b, "<p>{}</p>", esc(&p.description));
    let contact = if p.owner.email.is_empty() {
        "—".to_string()
    } else {
        format!(r#"<a href="mailto:{0}">{0}</a>"#, esc(&p.owner.email))
    };
    let _ = write!(
        b,
        "<dl class=\"facts\"><dt>URN</dt><dd><code>{}</code></dd><dt>Domain</dt><dd>{}</dd><dt>Owner</dt><dd>{}</dd><dt>Contact</dt><dd>{}</dd><dt>Template</dt><dd>{}</dd>{}<dt>Visibility</dt><dd>{}</dd>",
        esc(&p.urn),
        esc(&p.domain),
        esc(&p.owner.team),
        contact,
        esc(&p.template),
        p.stage
            .as_deref()
            .map(|s| format!("<dt>Stage</dt><dd>{}</dd>", esc(s)))
            .unwrap_or_default(),
        esc(&p.visibility)
    );
    if let Some(f) = &p.freshness_slo {
        let _ = write!(
            b,
            "<dt>Freshness promise</dt><dd>newest partition younger than {}</dd>",
            esc(f)
        );
    }
    b.push_str("</dl>\n");

    b.push_str("<h2>How to query</h2>");
    match &p.database {
        Some(db) => {
            let region = p
                .outputs
                .iter()
                .find_map(|o| o.sql.as_ref().map(|s| s.region.clone()))
                .unwrap_or_default();
            let _ = write!(
                b,
                "<p>In Amazon Athena (region <code>{}</code>), choose the database <code>{}</code>. Tables:</p><ul>",
                esc(&region),
                esc(db)
            );
            for o in &p.outputs {
                if let Some(sql) = &o.sql {
                    let _ = write!(
                        b,
                        "<li><code>{}</code> — output {}</li>",
                        esc(&sql.qualified_name),
                        esc(&o.name)
                    );
                }
            }
            b.push_str("</ul><p class=\"meta\">Reading needs a grant: see Access below.</p>");
        }
        None => b.push_str(
            "<p>Not provisioned: the operator would refuse this product (see above).</p>",
        ),
    }

    b.push_str("<h2>Outputs</h2>");
    for (n, o) in p.outputs.iter().enumerate() {
        b.push_str(&output_section(p, o, n));
    }

    b.push_str("<h2>Inputs</h2>");
    if p.inputs.is_empty() {
        b.push_str("<p>None.</p>");
    } else {
        b.push_str(r#"<table><thead><tr><th scope="col">Source</th><th scope="col">Kind</th><th scope="col">Description</th><th scope="col">Granted</th><th scope="col">State</th></tr></thead><tbody>"#);
        for i in &p.inputs {
            let source = match (&i.external, &i.product) {
                (Some(e), _) => format!("<code>{}</code>", esc(e)),
                (None, Some(pr)) => {
                    let label = format!("{pr}:{}", i.output.as_deref().unwrap_or(""));
                    if i.known {
                        format!(r#"<a href="{}">{}</a>"#, product_href(pr), esc(&label))
                    } else {
                        format!("{} (not in the catalogue)", esc(&label))
                    }
                }
                _ => String::new(),
            };
            let granted = if i.kind == "external" {
                "—".to_string()
            } else if i.granted {
                badge("granted", "granted")
            } else {
                badge("pending", "not granted")
            };
            let mut state = String::new();
            if let Some(d) = &i.deprecation {
                let replacement = d
                    .replaced_by
                    .as_deref()
                    .map(|r| format!("; move to {}", esc(r)))
                    .unwrap_or_default();
                let _ = write!(
                    state,
                    "{} goes away after {}{replacement}",
                    badge("deprecated", "Deprecated"),
                    esc(&d.sunset)
                );
            }
            match (i.ready, &i.waiting) {
                (Some(false), Some(w)) => {
                    if !state.is_empty() {
                        state.push_str("<br>");
                    }
                    let _ = write!(state, "{} {}", badge("stale", "Pipelines wait"), esc(w));
                }
                (Some(true), _) if state.is_empty() => state = badge("ready", "Ready"),
                _ => {}
            }
            if state.is_empty() {
                state = "—".to_string();
            }
            let _ = write!(
                b,
                "<tr><td>{source}</td><td>{}</td><td>{}</td><td>{granted}</td><td>{state}</td></tr>",
                esc(&i.kind),
                esc(&i.description)
            );
        }
        b.push_str("</tbody></table>");
    }

    b.push_str("<h2>Access</h2>");
    let _ = write!(
        b,
        "<p>Visibility <strong>{}</strong>: {}</p>",
        esc(&p.visibility),
        match p.visibility.as_str() {
            "private" => "only the owning team reads this product.",
            "public" => "requests for public-layer outputs are approved automatically.",
            _ => "anyone may ask; the owning team approves by listing the consumer.",
        }
    );
    b.push_str(r#"<table><caption>Approved consumers</caption><thead><tr><th scope="col">Consumer</th><th scope="col">Outputs listed</th><th scope="col">Granted by the plan</th></tr></thead><tbody>"#);
    if p.consumers.is_empty() {
        b.push_str(r#"<tr><td colspan="3">None.</td></tr>"#);
    }
    for c in &p.consumers {
        let who = match (&c.product, &c.principal) {
            (Some(pr), _) => format!(r#"<a href="{}">{}</a>"#, product_href(pr), esc(pr)),
            (None, Some(pr)) => format!("<code>{}</code>", esc(pr)),
            _ => String::new(),
        };
        let _ = write!(
            b,
            "<tr><td>{who}</td><td>{}</td><td>{}</td></tr>",
            if c.outputs.is_empty() {
                "every public output".into()
            } else {
                esc(&c.outputs.join(", "))
            },
            if c.granted.is_empty() {
                "—".into()
            } else {
                esc(&c.granted.join(", "))
            }
        );
    }
    b.push_str("</tbody></table>");
    b.push_str(r#"<table><caption>Access requests</caption><thead><tr><th scope="col">Request</th><th scope="col">Consumer</th><th scope="col">Outputs</th><th scope="col">Purpose</th><th scope="col">Expires</th><th scope="col">State</th></tr></thead><tbody>"#);
    if p.access_requests.is_empty() {
        b.push_str(r#"<tr><td colspan="6">None.</td></tr>"#);
    }
    for a in &p.access_requests {
        let state = match (&a.phase, a.expired, a.granted) {
            (Some(ph), _, _) => badge(ph, ph),
            (None, true, _) => badge("expired", "Expired"),
            (None, false, true) => badge("granted", "Granted by the plan"),
            (None, false, false) => badge("pending", "Waiting for approval"),
        };
        let _ = write!(
            b,
            "<tr><td>{}/{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{state}</td></tr>",
            esc(&a.namespace),
            esc(&a.name),
            esc(a
                .consumer_product
                .as_deref()
                .or(a.consumer_principal.as_deref())
                .unwrap_or("")),
            if a.outputs.is_empty() {
                "every public output".into()
            } else {
                esc(&a.outputs.join(", "))
            },
            esc(&a.purpose),
            esc(a.expires.as_deref().unwrap_or("never"))
        );
    }
    b.push_str("</tbody></table>");
    let _ = write!(
        b,
        r#"<h3>Ask for access</h3><p>Apply this in your product's namespace (<code>kubectl apply -f</code>), then ask the owning team to list your product among its consumers.</p><figure class="example"><figcaption>DataProductAccess</figcaption><button type="button" class="copy" data-target="access-yaml" hidden aria-label="Copy the DataProductAccess">Copy</button><pre><code id="access-yaml">{}</code></pre></figure>"#,
        esc(&access_yaml(p))
    );

    b.push_str("<h2>Lineage</h2><p>Two product hops up- and downstream. <a href=\"/lineage\">Whole mesh</a>.</p>");
    let g = index.lineage.around(&p.urn, 2);
    b.push_str(&svg(
        &g,
        &format!("Lineage of {}", p.product_ref()),
        Some(&p.urn),
    ));
    b.push_str(&edge_table(&g));

    if !p.conditions.is_empty() {
        b.push_str(r#"<h2>Status</h2><table><thead><tr><th scope="col">Condition</th><th scope="col">Status</th><th scope="col">Reason</th><th scope="col">Message</th></tr></thead><tbody>"#);
        for c in &p.conditions {
            let _ = write!(
                b,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&c.type_),
                esc(&c.status),
                esc(&c.reason),
                esc(&c.message)
            );
        }
        b.push_str("</tbody></table>");
    }
    let _ = write!(
        b,
        r#"<p class="meta">JSON: <a href="/api/v1/products/{}/{}">/api/v1/products/{}/{}</a></p>"#,
        url_enc(&p.namespace),
        url_enc(&p.name),
        esc(&p.namespace),
        esc(&p.name)
    );
    page(&p.product_ref(), &b)
}

/// `/lineage`: the whole mesh.
pub fn lineage_page(index: &Index) -> String {
    let g = &index.lineage.graph;
    let mut b = String::from("<h1>Lineage of the mesh</h1>");
    b.push_str(r#"<p class="legend"><span>▭ product (links to its page)</span><span>◯ output</span><span>◇ external source</span><span style="color:#57606a">— writes</span><span style="color:#0550ae">— reads</span><span style="color:#116329">- - grants</span></p>"#);
    b.push_str(&svg(g, "Lineage of the mesh", None));
    b.push_str(&edge_table(g));
    page("Lineage", &b)
}

/// The graph's edges as a table, the text equivalent of the picture.
fn edge_table(g: &Graph) -> String {
    let nodes: std::collections::HashMap<&str, &lineage::Node> =
        g.nodes.iter().map(|n| (n.id.as_str(), n)).collect();
    let label = |id: &str| {
        nodes
            .get(id)
            .map(|n| match (n.kind.as_str(), &n.product) {
                ("output", Some(p)) => format!("{p}:{}", n.label),
                _ => n.label.clone(),
            })
            .unwrap_or_else(|| id.to_string())
    };
    let mut s = String::from(
        r#"<details><summary>Lineage as a table</summary><table><thead><tr><th scope="col">From</th><th scope="col">Relation</th><th scope="col">To</th></tr></thead><tbody>"#,
    );
    for e in &g.edges {
        let _ = write!(
            s,
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&label(&e.from)),
            esc(&e.kind),
            esc(&label(&e.to))
        );
    }
    s.push_str("</tbody></table></details>");
    s
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

const NODE_W: usize = 200;
const NODE_H: usize = 36;
const COL_GAP: usize = 70;
const ROW_GAP: usize = 16;

/// The graph as inline SVG: columns by rank, edges pointing right, product nodes linking to
/// their page.
pub fn svg(g: &Graph, title: &str, focus: Option<&str>) -> String {
    if g.nodes.is_empty() {
        return "<p>No lineage.</p>".into();
    }
    let ranks = g.ranks();
    let mut columns: std::collections::BTreeMap<usize, Vec<&lineage::Node>> = Default::default();
    for n in &g.nodes {
        columns
            .entry(ranks.get(n.id.as_str()).copied().unwrap_or(0))
            .or_default()
            .push(n);
    }
    let mut pos: std::collections::BTreeMap<&str, (usize, usize)> = Default::default();
    let mut max_rows = 0;
    for (ci, (_, nodes)) in columns.iter().enumerate() {
        max_rows = max_rows.max(nodes.len());
        for (ri, n) in nodes.iter().enumerate() {
            pos.insert(
                n.id.as_str(),
                (10 + ci * (NODE_W + COL_GAP), 10 + ri * (NODE_H + ROW_GAP)),
            );
        }
    }
    let width = 20 + columns.len() * (NODE_W + COL_GAP) - COL_GAP;
    let height = 20 + max_rows * (NODE_H + ROW_GAP) - ROW_GAP;
    let mut s = format!(
        r##"<div class="lineage"><svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="group" aria-labelledby="lt"><title id="lt">{}</title>
<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#57606a"/></marker></defs>
"##,
        esc(title)
    );
    for e in &g.edges {
        let (Some(&(x1, y1)), Some(&(x2, y2))) = (pos.get(e.from.as_str()), pos.get(e.to.as_str()))
        else {
            continue;
        };
        let (x1, y1, x2, y2) = (
            (x1 + NODE_W) as i64,
            (y1 + NODE_H / 2) as i64,
            x2 as i64,
            (y2 + NODE_H / 2) as i64,
        );
        let mid = (x1 + x2) / 2;
        let (color, dash) = match e.kind.as_str() {
            "reads" => ("#0550ae", ""),
            "grants" => ("#116329", r#" stroke-dasharray="5 4""#),
            _ => ("#57606a", ""),
        };
        let _ = writeln!(
            s,
            r#"<path d="M{x1},{y1} C{mid},{y1} {mid},{y2} {x2},{y2}" fill="none" stroke="{color}" stroke-width="1.5"{dash} marker-end="url(#arrow)"><title>{}</title></path>"#,
            esc(&e.kind)
        );
    }
    for n in &g.nodes {
        let Some(&(x, y)) = pos.get(n.id.as_str()) else {
            continue;
        };
        let focused = focus == Some(n.id.as_str());
        let (fill, stroke, rx) = match n.kind.as_str() {
            "product" if focused => ("#ddf4ff", "#bf3989", 4),
            "product" => ("#ddf4ff", "#0550ae", 4),
            "output" => ("#f6f8fa", "#57606a", 18),
            _ => ("#fff8c5", "#9a6700", 0),
        };
        let stroke_w = if focused { 3 } else { 1 };
        let dash = if n.known {
            ""
        } else {
            r#" stroke-dasharray="3 3""#
        };
        let full = match (n.kind.as_str(), &n.product) {
            ("output", Some(p)) => format!("output {p}:{}", n.label),
            (k, _) => format!("{k} {}", n.label),
        };
        let shape = format!(
            r##"<rect x="{x}" y="{y}" width="{NODE_W}" height="{NODE_H}" rx="{rx}" fill="{fill}" stroke="{stroke}" stroke-width="{stroke_w}"{dash}/><text x="{}" y="{}" font-family="system-ui,sans-serif" font-size="13" text-anchor="middle" fill="#1b1f24">{}</text><title>{}</title>"##,
            x + NODE_W / 2,
            y + NODE_H / 2 + 5,
            esc(&truncate(&n.label, 28)),
            esc(&full)
        );
        match (n.kind.as_str(), &n.product) {
            ("product", Some(p)) if n.known => {
                let _ = writeln!(s, r#"<a href="{}">{shape}</a>"#, product_href(p));
            }
            _ => {
                let _ = writeln!(s, "<g>{shape}</g>");
            }
        }
    }
    s.push_str("</svg></div>\n");
    s
}

/// A 404 page for browsers.
pub fn not_found(what: &str) -> String {
    page(
        "Not found",
        &format!(
            r#"<h1>Not found</h1><p>{}</p><p><a href="/">All data products</a></p>"#,
            esc(what)
        ),
    )
}
