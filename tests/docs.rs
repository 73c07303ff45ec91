//! Every relative Markdown link in the documentation leads somewhere: the file
//! (or folder) exists, and a `#anchor` names a heading of the target page.
//!
//! Scanned: README.md, docs/*.md, bench/README.md, examples/**/README.md and
//! tests/e2e/README.md. Links to `http(s)://` and `mailto:` are not checked.
//! Anchors follow GitHub's slugs: the heading's text, lowercase, spaces become
//! `-`, punctuation other than `-` and `_` is dropped, and a repeated heading
//! gets `-1`, `-2`, ….

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The Markdown files whose links are checked, relative to the repository root.
fn documents() -> Vec<PathBuf> {
    let root = root();
    let mut files = vec![
        PathBuf::from("README.md"),
        PathBuf::from("bench/README.md"),
        PathBuf::from("tests/e2e/README.md"),
    ];
    let mut docs: Vec<PathBuf> = fs::read_dir(root.join("docs"))
        .expect("docs/ exists")
        .map(|entry| entry.expect("docs/ is readable").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "md"))
        .map(|path| path.strip_prefix(&root).unwrap().to_path_buf())
        .collect();
    assert!(!docs.is_empty(), "docs/ holds no .md file");
    docs.sort();
    files.extend(docs);
    let mut examples = Vec::new();
    find_readmes(&root, Path::new("examples"), &mut examples);
    examples.sort();
    files.extend(examples);
    for file in &files {
        assert!(
            root.join(file).is_file(),
            "{} is missing: tests/docs.rs expects it",
            file.display()
        );
    }
    files
}

fn find_readmes(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(root.join(dir)) else {
        return;
    };
    for entry in entries {
        let entry = entry.expect("examples/ is readable");
        let name = entry.file_name();
        let rel = dir.join(&name);
        if entry.file_type().unwrap().is_dir() {
            if name != "node_modules" && name != ".next" {
                find_readmes(root, &rel, out);
            }
        } else if name == "README.md" {
            out.push(rel);
        }
    }
}

/// The text with fenced code blocks blanked out (line numbers kept).
fn without_code_blocks(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut fence: Option<String> = None;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_start();
        let marker: String = trimmed
            .chars()
            .take_while(|&c| c == '`' || c == '~')
            .collect();
        let is_fence =
            marker.len() >= 3 && marker.chars().all(|c| c == marker.chars().next().unwrap());
        match &fence {
            None if is_fence => {
                fence = Some(marker);
                out.push('\n');
            }
            Some(open)
                if is_fence
                    && marker.starts_with(open.as_str())
                    && trimmed[marker.len()..].trim().is_empty() =>
            {
                fence = None;
                out.push('\n');
            }
            Some(_) => out.push_str(if line.ends_with('\n') { "\n" } else { "" }),
            None => out.push_str(line),
        }
    }
    out
}

struct Link {
    line: usize,
    text: String,
    target: String,
}

/// Inline links and images `[text](target)` outside code spans, and
/// reference definitions `[label]: target`.
fn links(text: &str) -> Vec<Link> {
    let text = without_code_blocks(text);
    let chars: Vec<char> = text.chars().collect();
    let mut found = Vec::new();
    let mut line = 1;
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '\n' => {
                line += 1;
                i += 1;
            }
            '`' => {
                // A code span: a run of n backticks up to the next run of exactly n.
                let run = chars[i..].iter().take_while(|&&c| c == '`').count();
                let mut j = i + run;
                let mut close = None;
                while j < chars.len() {
                    if chars[j] == '`' {
                        let other = chars[j..].iter().take_while(|&&c| c == '`').count();
                        if other == run {
                            close = Some(j + other);
                            break;
                        }
                        j += other;
                    } else {
                        j += 1;
                    }
                }
                match close {
                    Some(end) => {
                        line += chars[i..end].iter().filter(|&&c| c == '\n').count();
                        i = end;
                    }
                    None => i += run,
                }
            }
            '[' => {
                let start_line = line;
                // The matching `]`, allowing nested brackets (an image inside a link).
                let mut depth = 0;
                let mut j = i;
                let mut end = None;
                while j < chars.len() {
                    match chars[j] {
                        '[' => depth += 1,
                        ']' => {
                            depth -= 1;
                            if depth == 0 {
                                end = Some(j);
                                break;
                            }
                        }
                        '\n' if chars.get(j + 1) == Some(&'\n') => break, // paragraph end
                        _ => {}
                    }
                    j += 1;
                }
                let Some(close) = end else {
                    i += 1;
                    continue;
                };
                let label: String = chars[i + 1..close].iter().collect();
                let paren = match chars.get(close + 1) {
                    Some('(') => chars[close + 2..].iter().position(|&c| c == ')'),
                    _ => None,
                };
                if let Some(paren) = paren {
                    let inside: String = chars[close + 2..close + 2 + paren].iter().collect();
                    let target = inside.split_whitespace().next().unwrap_or("");
                    let target = target.trim_start_matches('<').trim_end_matches('>');
                    found.push(Link {
                        line: start_line,
                        text: label.split_whitespace().collect::<Vec<_>>().join(" "),
                        target: target.to_owned(),
                    });
                    // Links inside the label (an image in a link) are scanned too.
                    i += 1;
                    continue;
                }
                let at_line_start = i == 0
                    || chars[..i]
                        .iter()
                        .rev()
                        .take_while(|&&c| c != '\n')
                        .all(|c| c.is_whitespace());
                if at_line_start && chars.get(close + 1) == Some(&':') {
                    let rest: String = chars[close + 2..]
                        .iter()
                        .take_while(|&&c| c != '\n')
                        .collect();
                    if let Some(target) = rest.split_whitespace().next() {
                        found.push(Link {
                            line: start_line,
                            text: label,
                            target: target
                                .trim_start_matches('<')
                                .trim_end_matches('>')
                                .to_owned(),
                        });
                    }
                }
                i += 1;
            }
            _ => i += 1,
        }
    }
    found
}

/// GitHub's anchor for a heading's text.
fn slug(heading: &str) -> String {
    let text = strip_inline_markup(heading);
    text.trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            '-' | '_' => Some(c),
            c if c.is_alphanumeric() => Some(c),
            _ => None,
        })
        .collect()
}

/// A heading's visible text: `[text](target)` becomes `text`; the rest of the
/// markup is punctuation, which the slug drops anyway.
fn strip_inline_markup(heading: &str) -> String {
    let mut out = String::new();
    let mut rest = heading;
    while let Some(open) = rest.find('[') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find("](") {
            Some(mid) if after[mid + 2..].contains(')') => {
                out.push_str(&after[..mid]);
                let close = after[mid + 2..].find(')').unwrap();
                rest = &after[mid + 2 + close + 1..];
            }
            _ => {
                out.push('[');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Every anchor a Markdown file offers: its headings' slugs (ATX and setext,
/// duplicates numbered) and explicit `id="…"` / `name="…"` attributes.
fn anchors(text: &str) -> HashSet<String> {
    let text = without_code_blocks(text);
    let lines: Vec<&str> = text.lines().collect();
    let mut seen: HashSet<String> = HashSet::new();
    let mut anchors = HashSet::new();
    let mut add = |base: String, anchors: &mut HashSet<String>| {
        let mut candidate = base.clone();
        let mut n = 0;
        while !seen.insert(candidate.clone()) {
            n += 1;
            candidate = format!("{base}-{n}");
        }
        anchors.insert(candidate);
    };
    for (k, raw) in lines.iter().enumerate() {
        let line = raw.trim_start();
        let hashes = line.chars().take_while(|&c| c == '#').count();
        if (1..=6).contains(&hashes)
            && (line.len() == hashes || line[hashes..].starts_with(' '))
            && raw.len() - line.len() < 4
        {
            let body = line[hashes..].trim();
            let body = body.trim_end_matches('#').trim_end();
            add(slug(body), &mut anchors);
            continue;
        }
        if let Some(next) = lines.get(k + 1) {
            let next = next.trim();
            let underline = !next.is_empty()
                && (next.chars().all(|c| c == '=') || next.chars().all(|c| c == '-'));
            let paragraph_line = !line.is_empty()
                && !line.starts_with('|')
                && !line.starts_with('-')
                && !line.starts_with('*')
                && !line.starts_with('>')
                && (k == 0 || lines[k - 1].trim().is_empty());
            if underline && paragraph_line {
                add(slug(line.trim()), &mut anchors);
            }
        }
        for attr in ["id=\"", "name=\""] {
            let mut rest = *raw;
            while let Some(pos) = rest.find(attr) {
                let after = &rest[pos + attr.len()..];
                if let Some(end) = after.find('"') {
                    anchors.insert(after[..end].to_owned());
                    rest = &after[end..];
                } else {
                    break;
                }
            }
        }
    }
    anchors
}

fn is_external(target: &str) -> bool {
    let lower = target.to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("https://") || lower.starts_with("mailto:")
}

/// Problems with one file's relative links, one line each.
fn check_file(root: &Path, file: &Path) -> Vec<String> {
    let text =
        fs::read_to_string(root.join(file)).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let dir = file.parent().unwrap_or(Path::new(""));
    let mut problems = Vec::new();
    for link in links(&text) {
        if link.target.is_empty() {
            problems.push(format!(
                "{}:{}: link [{}]() has no target",
                file.display(),
                link.line,
                link.text
            ));
            continue;
        }
        if is_external(&link.target) {
            continue;
        }
        let (path, anchor) = match link.target.split_once('#') {
            Some((path, anchor)) => (path, Some(anchor)),
            None => (link.target.as_str(), None),
        };
        let path = path.split('?').next().unwrap();
        let target_file = if path.is_empty() {
            file.to_path_buf()
        } else if let Some(from_root) = path.strip_prefix('/') {
            PathBuf::from(from_root)
        } else {
            dir.join(path)
        };
        let shown = format!(
            "{}:{}: link [{}]({})",
            file.display(),
            link.line,
            link.text,
            link.target
        );
        let absolute = root.join(&target_file);
        if !absolute.exists() {
            problems.push(format!("{shown}: {} does not exist", target_file.display()));
            continue;
        }
        let Some(anchor) = anchor else { continue };
        if absolute.extension().is_none_or(|ext| ext != "md") {
            continue; // anchors into code (#L10) are not headings
        }
        let target_text = fs::read_to_string(&absolute)
            .unwrap_or_else(|e| panic!("{}: {e}", target_file.display()));
        if !anchors(&target_text).contains(anchor) {
            problems.push(format!(
                "{shown}: {} has no heading whose anchor is `#{anchor}`",
                target_file.display()
            ));
        }
    }
    problems
}

#[test]
fn relative_links_lead_to_existing_files_and_headings() {
    let root = root();
    let files = documents();
    let mut checked = 0;
    let mut problems = Vec::new();
    for file in &files {
        checked += links(&fs::read_to_string(root.join(file)).unwrap()).len();
        problems.extend(check_file(&root, file));
    }
    assert!(
        checked > 0,
        "no link found in {} files: the scanner is broken",
        files.len()
    );
    assert!(
        problems.is_empty(),
        "{} broken link(s) in the documentation:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn slugs_follow_github() {
    assert_eq!(
        slug("Several replicas: guard mode with Redis"),
        "several-replicas-guard-mode-with-redis"
    );
    assert_eq!(slug("In front of `next start`"), "in-front-of-next-start");
    assert_eq!(
        slug("Health, readiness, metrics"),
        "health-readiness-metrics"
    );
    assert_eq!(slug("`[guard] redis_timeout`"), "guard-redis_timeout");
    assert_eq!(slug("See [the docs](docs/x.md) now"), "see-the-docs-now");
    assert_eq!(slug("Tests & layout"), "tests--layout");
}

#[test]
fn the_scanner_finds_links_and_skips_code() {
    let text = "See [a\nlink](x.md#y) and `[not](code.md)`.\n\n```\n[nor](this.md)\n```\n![img](pic.png) [ref]: no\n\n[def]: other.md\n";
    let found: Vec<(usize, String, String)> = links(text)
        .into_iter()
        .map(|l| (l.line, l.text, l.target))
        .collect();
    assert_eq!(
        found,
        vec![
            (1, "a link".to_owned(), "x.md#y".to_owned()),
            (7, "img".to_owned(), "pic.png".to_owned()),
            (9, "def".to_owned(), "other.md".to_owned()),
        ]
    );
    let headings =
        anchors("# Title\n\n## Same\n\n## Same\n\nSetext\n------\n\n```\n# not a heading\n```\n");
    for expected in ["title", "same", "same-1", "setext"] {
        assert!(
            headings.contains(expected),
            "{expected} missing from {headings:?}"
        );
    }
    assert!(!headings.contains("not-a-heading"));
}

#[test]
fn a_broken_link_is_reported_with_file_link_and_what_is_missing() {
    let dir = std::env::temp_dir().join(format!("cookieguard-docs-{}", std::process::id()));
    fs::create_dir_all(dir.join("docs")).unwrap();
    fs::write(dir.join("docs/a.md"), "# A\n\n## Here\n").unwrap();
    fs::write(
        dir.join("README.md"),
        "[ok](docs/a.md#here) [gone](docs/b.md) [bad anchor](docs/a.md#there) [web](https://example.com/x)\n",
    )
    .unwrap();
    let problems = check_file(&dir, Path::new("README.md"));
    fs::remove_dir_all(&dir).unwrap();
    assert_eq!(
        problems,
        vec![
            "README.md:1: link [gone](docs/b.md): docs/b.md does not exist".to_owned(),
            "README.md:1: link [bad anchor](docs/a.md#there): docs/a.md has no heading whose anchor is `#there`"
                .to_owned(),
        ]
    );
}
