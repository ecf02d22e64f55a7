//! A small flame graph writer: reads `perf script` output on standard input, folds the samples into stacks
//! and writes an SVG flame graph on standard output (root at the bottom, callees above; widths are shares of
//! the samples; hovering a frame shows its name, samples and share).
//!
//! Usage: `perf script -i perf.data | flamegraph [--title TEXT] [--folded] > out.svg`; `--folded` writes the
//! folded stacks (`root;caller;callee count` lines) instead of the SVG. hack/profile.sh runs it.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Read;

/// Folds `perf script` output: one sample is a header line (command, pid, time, event) followed by its frames,
/// innermost first (`address symbol+offset (object)`), and a blank line. Returns each stack, outermost frame
/// first and the command as its root, with its number of samples.
fn fold(perf_script: &str) -> BTreeMap<String, u64> {
    let mut stacks = BTreeMap::new();
    let mut command: Option<String> = None;
    let mut frames: Vec<String> = Vec::new();
    let mut finish = |command: &mut Option<String>, frames: &mut Vec<String>| {
        if let Some(c) = command.take() {
            let mut stack = c;
            for f in frames.iter().rev() {
                stack.push(';');
                stack.push_str(f);
            }
            *stacks.entry(stack).or_insert(0) += 1;
        }
        frames.clear();
    };
    for line in perf_script.lines() {
        if line.trim().is_empty() {
            finish(&mut command, &mut frames);
        } else if line.starts_with(char::is_whitespace) {
            if command.is_some() {
                frames.push(symbol(line.trim()));
            }
        } else if !line.starts_with('#') {
            finish(&mut command, &mut frames);
            // The command may hold spaces; the pid (or pid/tid) follows it.
            let words: Vec<&str> = line.split_whitespace().collect();
            let at = words.iter().position(|w| w.split('/').all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))).unwrap_or(1).max(1);
            command = Some(words[..at.min(words.len())].join(" "));
        }
    }
    finish(&mut command, &mut frames);
    stacks
}

/// The function name of a frame line `address symbol+0xoffset (object)`, without the offset and without the
/// hash Rust's legacy mangling appends (`::h0123456789abcdef`); `[unknown]` frames name their object.
fn symbol(frame: &str) -> String {
    let rest = frame.split_once(char::is_whitespace).map_or("", |(_, r)| r.trim());
    let (name, object) = match rest.rfind(" (") {
        Some(i) if rest.ends_with(')') => (&rest[..i], &rest[i + 2..rest.len() - 1]),
        _ => (rest, ""),
    };
    let name = match name.rfind("+0x") {
        Some(i) => &name[..i],
        None => name,
    };
    let name = match name.rfind("::h") {
        Some(i) if name.len() - i == 19 && name[i + 3..].bytes().all(|b| b.is_ascii_hexdigit()) => &name[..i],
        _ => name,
    };
    if name.is_empty() || name == "[unknown]" {
        let object = object.rsplit('/').next().unwrap_or(object);
        return match object {
            "" => "[unknown]".into(),
            o if o.starts_with('[') => o.to_string(),
            o => format!("[{o}]"),
        };
    }
    // `;` separates frames in the folded format.
    name.replace(';', ":")
}

/// A frame of the call tree: samples in it and below it, and its callees by name.
#[derive(Default)]
struct Node {
    samples: u64,
    children: BTreeMap<String, Node>,
}

fn tree(stacks: &BTreeMap<String, u64>) -> Node {
    let mut root = Node::default();
    for (stack, &n) in stacks {
        root.samples += n;
        let mut node = &mut root;
        for frame in stack.split(';') {
            node = node.children.entry(frame.to_string()).or_default();
            node.samples += n;
        }
    }
    root
}

const WIDTH: f64 = 1200.0;
const FRAME_HEIGHT: f64 = 16.0;
const MARGIN: f64 = 10.0;
const TOP: f64 = 40.0;
/// Frames narrower than this are left out (they would not be seen).
const MIN_WIDTH: f64 = 0.1;

fn depth(node: &Node) -> usize {
    node.children.values().map(|c| 1 + depth(c)).max().unwrap_or(0)
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// A warm colour that depends only on the name, so that the same function keeps its colour across graphs.
fn colour(name: &str) -> String {
    let h = name.bytes().fold(2166136261u32, |h, b| (h ^ u32::from(b)).wrapping_mul(16777619));
    let (r, g, b) = (205 + h % 50, 90 + (h >> 8) % 120, 40 + (h >> 16) % 40);
    format!("rgb({r},{g},{b})")
}

/// Renders the folded stacks as an SVG flame graph.
fn render(stacks: &BTreeMap<String, u64>, title: &str) -> String {
    let root = tree(stacks);
    let levels = depth(&root) + 1;
    let height = TOP + levels as f64 * FRAME_HEIGHT + 2.0 * MARGIN;
    let mut svg = String::new();
    let _ = write!(
        svg,
        "<?xml version=\"1.0\" standalone=\"no\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{height}\" viewBox=\"0 0 {WIDTH} {height}\" font-family=\"Verdana, sans-serif\" font-size=\"12\">\n\
         <rect x=\"0\" y=\"0\" width=\"{WIDTH}\" height=\"{height}\" fill=\"#f8f8f0\"/>\n\
         <text x=\"{}\" y=\"24\" text-anchor=\"middle\" font-size=\"17\">{}</text>\n\
         <text x=\"{MARGIN}\" y=\"{}\" font-size=\"11\" fill=\"#555\">{} samples; width is the share of samples, callers below their callees</text>\n",
        WIDTH / 2.0,
        escape(title),
        height - 4.0,
        root.samples
    );
    if root.samples > 0 {
        let scale = (WIDTH - 2.0 * MARGIN) / root.samples as f64;
        let bottom = height - 2.0 * MARGIN;
        draw(&mut svg, "all", &root, MARGIN, bottom - FRAME_HEIGHT, scale, root.samples);
    }
    svg.push_str("</svg>\n");
    svg
}

fn draw(svg: &mut String, name: &str, node: &Node, x: f64, y: f64, scale: f64, total: u64) {
    let w = node.samples as f64 * scale;
    if w < MIN_WIDTH {
        return;
    }
    let share = 100.0 * node.samples as f64 / total as f64;
    let _ = write!(
        svg,
        "<g><title>{} ({} samples, {share:.2}%)</title><rect x=\"{x:.2}\" y=\"{y:.1}\" width=\"{w:.2}\" height=\"{}\" fill=\"{}\" rx=\"2\"/>",
        escape(name),
        node.samples,
        FRAME_HEIGHT - 1.0,
        colour(name)
    );
    // About 7 px per character at this size; names that do not fit are cut with "..".
    let fits = ((w - 6.0) / 7.0).floor().max(0.0) as usize;
    if fits >= 3 {
        let chars: Vec<char> = name.chars().collect();
        let text: String = if chars.len() <= fits { name.to_string() } else { chars[..fits - 2].iter().collect::<String>() + ".." };
        let _ = write!(svg, "<text x=\"{:.2}\" y=\"{:.1}\">{}</text>", x + 3.0, y + FRAME_HEIGHT - 4.0, escape(&text));
    }
    svg.push_str("</g>\n");
    let mut cx = x;
    for (child_name, child) in &node.children {
        draw(svg, child_name, child, cx, y - FRAME_HEIGHT, scale, total);
        cx += child.samples as f64 * scale;
    }
}

fn main() {
    let mut title = "cozystack-api".to_string();
    let mut folded = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--title" => title = args.next().unwrap_or_default(),
            "--folded" => folded = true,
            _ => {
                eprintln!("usage: perf script | flamegraph [--title TEXT] [--folded] > out.svg");
                std::process::exit(2);
            }
        }
    }
    let mut input = String::new();
    if let Err(e) = std::io::stdin().read_to_string(&mut input) {
        eprintln!("flamegraph: reading standard input: {e}");
        std::process::exit(1);
    }
    let stacks = fold(&input);
    if stacks.is_empty() {
        eprintln!("flamegraph: no samples with stacks in the input (perf record -g, and perf script output?)");
        std::process::exit(1);
    }
    if folded {
        for (stack, n) in &stacks {
            println!("{stack} {n}");
        }
    } else {
        print!("{}", render(&stacks, &title));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCRIPT: &str = "\
tokio-runtime-w 4242/4250 1000.000100:   10101010 cpu-clock:pppH:
\t    5581a0 serde_json::ser::format_escaped_str::h0123456789abcdef+0x20 (/work/target/profiling/cozystack-api)
\t    5570b0 apiserver::handlers::resource::list+0x1a0 (/work/target/profiling/cozystack-api)
\t    7f0000 [unknown] (/usr/lib/x86_64-linux-gnu/libc.so.6)

tokio-runtime-w 4242/4250 1000.000200:   10101010 cpu-clock:pppH:
\t    5581a0 serde_json::ser::format_escaped_str::h0123456789abcdef+0x24 (/work/target/profiling/cozystack-api)
\t    5570b0 apiserver::handlers::resource::list+0x1a0 (/work/target/profiling/cozystack-api)
\t    7f0000 [unknown] (/usr/lib/x86_64-linux-gnu/libc.so.6)

tokio-runtime-w 4242/4251 1000.000300:   10101010 cpu-clock:pppH:
\t    600000 <flate2::zio::Writer<W,D> as std::io::Write>::write+0x10 (/work/target/profiling/cozystack-api)
\t    7f0000 [unknown] (/usr/lib/x86_64-linux-gnu/libc.so.6)
";

    #[test]
    fn perf_script_output_folds_into_stacks_outermost_first() {
        let folded = fold(SCRIPT);
        let want: BTreeMap<String, u64> = [
            ("tokio-runtime-w;[libc.so.6];apiserver::handlers::resource::list;serde_json::ser::format_escaped_str".to_string(), 2),
            ("tokio-runtime-w;[libc.so.6];<flate2::zio::Writer<W,D> as std::io::Write>::write".to_string(), 1),
        ]
        .into_iter()
        .collect();
        assert_eq!(folded, want);
    }

    #[test]
    fn the_svg_has_a_frame_per_function_sized_by_its_samples() {
        let svg = render(&fold(SCRIPT), "list <all>");
        assert!(svg.starts_with("<?xml") && svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("list &lt;all&gt;"), "the title is escaped");
        assert!(svg.contains("<title>all (3 samples, 100.00%)</title>"));
        assert!(svg.contains("<title>serde_json::ser::format_escaped_str (2 samples, 66.67%)</title>"));
        assert!(svg.contains("<title>&lt;flate2::zio::Writer&lt;W,D&gt; as std::io::Write&gt;::write (1 samples, 33.33%)</title>"));
        // The root spans the whole width; a frame with 2 of 3 samples two thirds of it.
        let width_of = |name: &str| -> f64 {
            let at = svg.find(&format!("<title>{name} (")).unwrap();
            let rect = &svg[at..];
            let w = rect.split("width=\"").nth(1).unwrap().split('"').next().unwrap();
            w.parse().unwrap()
        };
        let full = WIDTH - 2.0 * MARGIN;
        assert!((width_of("all") - full).abs() < 0.01);
        assert!((width_of("serde_json::ser::format_escaped_str") - full * 2.0 / 3.0).abs() < 0.01);
        assert_eq!(svg.matches("<rect").count(), 1 + 6, "background plus all, the command, libc, list, format_escaped_str, write");
    }

    #[test]
    fn frame_names_lose_offsets_and_hashes_but_keep_generics() {
        assert_eq!(symbol("55 core::ptr::drop_in_place<alloc::vec::Vec<u8>>+0x1 (/bin/x)"), "core::ptr::drop_in_place<alloc::vec::Vec<u8>>");
        assert_eq!(symbol("55 foo::bar::h0123456789abcdef (/bin/x)"), "foo::bar");
        assert_eq!(symbol("55 [unknown] ([kernel.kallsyms])"), "[kernel.kallsyms]");
        assert_eq!(symbol("55 [unknown] ([unknown])"), "[unknown]");
    }
}
