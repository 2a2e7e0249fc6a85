//! [`SplitWordsBolt`]: text to words, Storm's `SplitSentence`.
//!
//! Owns what a word is (see [`SplitWordsBolt`]); counting them is
//! [`super::CountBolt`]'s job.

use crate::error::Result;
use crate::model::{Fields, Tuple};
use crate::runtime::OutputCollector;
use crate::topology::{Bolt, OutputDeclarer};

/// Splits the text field `field` of each input into words and emits one
/// tuple per word, in order, on the default stream with the field `word`.
///
/// A word is a maximal run of characters for which [`char::is_alphanumeric`]
/// holds, lowercased with [`str::to_lowercase`]: `"Don't stop, 2 Æsops!"`
/// gives `don`, `t`, `stop`, `2`, `æsops`. Punctuation, spaces and symbols
/// separate words; a line with none gives nothing.
///
/// # Examples
/// ```
/// use squall::builtins::{GeneratorSpout, SplitWordsBolt};
/// use squall::TopologyBuilder;
///
/// let mut builder = TopologyBuilder::new("split");
/// builder.set_spout("lines", GeneratorSpout::sentences(0).with_limit(10), 1);
/// builder.set_bolt("split", SplitWordsBolt::new("line"), 2).shuffle_grouping("lines");
/// ```
#[derive(Debug, Clone)]
pub struct SplitWordsBolt {
    field: String,
    /// The lowercase form of a word that had uppercase letters: reused.
    lower: String,
}

impl SplitWordsBolt {
    /// A bolt splitting the string field `field` of its inputs.
    pub fn new(field: &str) -> SplitWordsBolt {
        SplitWordsBolt { field: field.to_string(), lower: String::new() }
    }

    /// The input field that is split.
    pub fn field(&self) -> &str {
        &self.field
    }
}

/// `word` lowercased, as [`str::to_lowercase`] does: `word` itself when it
/// has no uppercase letter, else written into `buf`, which is reused (no
/// allocation when `word` is ASCII).
fn lowercase<'a>(word: &'a str, buf: &'a mut String) -> &'a str {
    if word.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()) {
        return word;
    }
    buf.clear();
    if word.is_ascii() {
        buf.push_str(word);
        buf.make_ascii_lowercase();
    } else {
        buf.push_str(&word.to_lowercase());
    }
    buf
}

/// Calls `f` with each word of `text` as a slice of it, not yet lowercased.
fn for_each_word(text: &str, mut f: impl FnMut(&str) -> Result<()>) -> Result<()> {
    let mut start = None;
    for (i, c) in text.char_indices() {
        match (c.is_alphanumeric(), start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                f(&text[s..i])?;
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        f(&text[s..])?;
    }
    Ok(())
}

impl Bolt for SplitWordsBolt {
    fn declare_outputs(&self, declarer: &mut OutputDeclarer) {
        declarer.declare(Fields::new(["word"]));
    }

    /// # Errors
    /// [`crate::Error::NoSuchField`] or [`crate::Error::WrongType`] if the
    /// input has no string field of that name.
    fn execute(&mut self, input: Tuple, collector: &mut OutputCollector) -> Result<()> {
        let text = input.get_str(&self.field)?;
        let buf = &mut self.lower;
        for_each_word(text, |word| collector.emit_str(lowercase(word, buf)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builtins::test_support::Collect;
    use crate::builtins::GeneratorSpout;
    use crate::{LocalCluster, TopologyBuilder};

    fn words(text: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut buf = String::new();
        for_each_word(text, |w| {
            let lower = lowercase(w, &mut buf);
            assert_eq!(lower, w.to_lowercase());
            out.push(lower.to_string());
            Ok(())
        })
        .unwrap();
        out
    }

    #[test]
    fn tricky_text() {
        assert_eq!(words("Don't stop, 2 Æsops!"), ["don", "t", "stop", "2", "æsops"]);
        assert_eq!(words(""), Vec::<String>::new());
        assert_eq!(words("  ...  --- !!"), Vec::<String>::new());
        assert_eq!(words("HELLO"), ["hello"]);
        assert_eq!(words("x1y2 3.14 co-op"), ["x1y2", "3", "14", "co", "op"]);
        assert_eq!(words("naïve café—Straße"), ["naïve", "café", "straße"]);
        assert_eq!(words("日本語 text"), ["日本語", "text"]);
        assert_eq!(words("tab\tnew\nline\r"), ["tab", "new", "line"]);
        // Uppercase letters whose lowercase is longer in bytes.
        assert_eq!(words("İ"), ["i\u{307}"]);
    }

    fn run(lines: &[&str], field: &str) -> crate::Result<Vec<String>> {
        let sink = Collect::default();
        let mut builder = TopologyBuilder::new("split-test");
        let lines = lines.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let n = lines.len() as u64;
        builder.set_spout("gen", GeneratorSpout::sentences(0).with_lines(lines).with_limit(n), 1);
        builder.set_bolt("split", SplitWordsBolt::new(field), 1).shuffle_grouping("gen");
        builder.set_bolt("sink", sink.clone(), 1).shuffle_grouping("split");
        LocalCluster::run(builder.build()?)?;
        Ok(sink.rows().into_iter().map(|v| v[0].as_str().unwrap().to_string()).collect())
    }

    #[test]
    fn emits_one_tuple_per_word_in_a_topology() {
        let got = run(&["The cow, the MOON.", "", "42 cows"], "line").unwrap();
        assert_eq!(got, ["the", "cow", "the", "moon", "42", "cows"]);
    }

    #[test]
    fn wrong_field_type_is_an_error_naming_the_component() {
        let err = run(&["a"], "seq").unwrap_err().to_string();
        assert!(err.contains("'split'") && err.contains("'seq'") && err.contains("int"), "{err}");
        let err = run(&["a"], "nope").unwrap_err().to_string();
        assert!(err.contains("'split'") && err.contains("'nope'"), "{err}");
    }
}
