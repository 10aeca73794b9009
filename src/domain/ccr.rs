//! Customer contact reasons: a three-level tree (`1` → `1A` → `1A.1`) with translations.
//! Validation of a whole taxonomy and the search ranking live here.
use crate::error::FieldViolation;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use unicode_normalization::UnicodeNormalization;

pub const MAX_CODE_LEN: usize = 64;
pub const MAX_TRANSLATION_LEN: usize = 200;
pub const MAX_NODES: usize = 10_000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Translation {
    pub language: String,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ccr {
    pub code: String,
    pub level: i32,
    /// Empty for level 1.
    #[serde(default)]
    pub parent_code: String,
    pub translations: Vec<Translation>,
}

impl Ccr {
    /// The text in `language`, if translated.
    pub fn text(&self, language: &str) -> Option<&str> {
        self.translations
            .iter()
            .find(|t| t.language == language)
            .map(|t| t.text.as_str())
    }
}

/// Every problem of a taxonomy, each naming its node (`nodes[3].parent_code`); empty when the
/// tree may replace the current one.
pub fn validate_tree(nodes: &[Ccr]) -> Vec<FieldViolation> {
    let mut problems = Vec::new();
    let mut add = |field: String, description: String| {
        problems.push(FieldViolation { field, description });
    };
    if nodes.is_empty() {
        add("nodes".into(), "must not be empty".into());
    }
    if nodes.len() > MAX_NODES {
        add(
            "nodes".into(),
            format!("must have at most {MAX_NODES} nodes"),
        );
    }
    let mut levels: HashMap<&str, i32> = HashMap::new();
    for (i, node) in nodes.iter().enumerate() {
        if levels.insert(node.code.as_str(), node.level).is_some() {
            add(
                format!("nodes[{i}].code"),
                format!("duplicate code {:?}", node.code),
            );
        }
    }
    let parents: HashSet<&str> = nodes.iter().map(|n| n.parent_code.as_str()).collect();
    for (i, node) in nodes.iter().enumerate() {
        let field = |name: &str| format!("nodes[{i}].{name}");
        let code = node.code.trim();
        if code.is_empty() {
            add(field("code"), "must not be empty".into());
        } else if code.len() > MAX_CODE_LEN
            || code.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            add(
                field("code"),
                format!("must be at most {MAX_CODE_LEN} characters without spaces"),
            );
        }
        if !(1..=3).contains(&node.level) {
            add(
                field("level"),
                format!("{} has level {}: levels are 1 to 3", node.code, node.level),
            );
        }
        match (node.level, node.parent_code.as_str()) {
            (1, "") => {}
            (1, _) => add(
                field("parent_code"),
                format!("{} is level 1 and cannot have a parent", node.code),
            ),
            (_, "") => add(
                field("parent_code"),
                format!("{} needs a parent", node.code),
            ),
            (level, parent) => match levels.get(parent) {
                None => add(
                    field("parent_code"),
                    format!("parent {parent:?} of {} does not exist", node.code),
                ),
                Some(parent_level) if *parent_level != level - 1 => add(
                    field("parent_code"),
                    format!(
                        "parent {parent:?} of {} is level {parent_level}, not {}",
                        node.code,
                        level - 1
                    ),
                ),
                Some(_) => {}
            },
        }
        if (1..3).contains(&node.level) && !parents.contains(node.code.as_str()) {
            add(
                field("code"),
                format!(
                    "{} is a level-{} leaf: leaves must be level 3",
                    node.code, node.level
                ),
            );
        }
        if node.translations.is_empty() {
            add(
                field("translations"),
                format!("{} needs at least one translation", node.code),
            );
        }
        let mut languages = HashSet::new();
        for (j, translation) in node.translations.iter().enumerate() {
            let field = format!("nodes[{i}].translations[{j}]");
            if translation.language.trim().is_empty() || translation.language.len() > 16 {
                add(
                    format!("{field}.language"),
                    "must be 1 to 16 characters".into(),
                );
            } else if !languages.insert(translation.language.as_str()) {
                add(
                    format!("{field}.language"),
                    format!(
                        "{} is translated twice into {}",
                        node.code, translation.language
                    ),
                );
            }
            if translation.text.trim().is_empty()
                || translation.text.chars().count() > MAX_TRANSLATION_LEN
            {
                add(
                    format!("{field}.text"),
                    format!("must be 1 to {MAX_TRANSLATION_LEN} characters"),
                );
            }
        }
    }
    problems
}

/// Lower-case without accents: `Rückerstattung` and `ruckerstattung` compare equal.
pub fn fold(text: &str) -> String {
    text.nfd()
        .filter(|c| !('\u{0300}'..='\u{036f}').contains(c))
        .flat_map(char::to_lowercase)
        .collect()
}

/// How well a leaf matches a query; lower is better, `None` is no match.
/// 0: every query word starts a word of the leaf's text; 1: every query word occurs in the
/// leaf's text; 2: every query word occurs in the leaf's or its parents' texts.
pub fn rank(query_words: &[String], leaf_text: &str, parent_texts: &[&str]) -> Option<u8> {
    if query_words.is_empty() {
        return None;
    }
    let leaf = fold(leaf_text);
    let words: Vec<&str> = leaf
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    if query_words
        .iter()
        .all(|q| words.iter().any(|w| w.starts_with(q.as_str())))
    {
        return Some(0);
    }
    if query_words.iter().all(|q| leaf.contains(q.as_str())) {
        return Some(1);
    }
    let all = parent_texts
        .iter()
        .map(|t| fold(t))
        .chain([leaf])
        .collect::<Vec<_>>()
        .join(" ");
    query_words
        .iter()
        .all(|q| all.contains(q.as_str()))
        .then_some(2)
}

/// Splits a query into folded words.
pub fn query_words(query: &str) -> Vec<String> {
    fold(query)
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(code: &str, level: i32, parent: &str) -> Ccr {
        Ccr {
            code: code.into(),
            level,
            parent_code: parent.into(),
            translations: vec![Translation {
                language: "en".into(),
                text: code.into(),
            }],
        }
    }

    #[test]
    fn a_sound_tree_passes_and_every_problem_is_listed() {
        let good = vec![node("1", 1, ""), node("1A", 2, "1"), node("1A.1", 3, "1A")];
        assert!(validate_tree(&good).is_empty());
        let mut bad = good.clone();
        bad.push(node("1A.1", 3, "1A")); // duplicate
        bad.push(node("2A.1", 3, "2A")); // missing parent
        bad.push(node("1A.1.1", 4, "1A.1")); // level 4
        let mut untranslated = node("1A.2", 3, "1A");
        untranslated.translations.clear();
        bad.push(untranslated);
        let fields: Vec<String> = validate_tree(&bad).into_iter().map(|p| p.field).collect();
        assert!(fields.contains(&"nodes[3].code".to_string()), "{fields:?}");
        assert!(
            fields.contains(&"nodes[4].parent_code".to_string()),
            "{fields:?}"
        );
        assert!(fields.contains(&"nodes[5].level".to_string()), "{fields:?}");
        assert!(
            fields.contains(&"nodes[6].translations".to_string()),
            "{fields:?}"
        );
    }

    #[test]
    fn ranking_prefers_word_prefixes_and_ignores_case_and_accents() {
        let q = query_words("RUCKER");
        assert_eq!(rank(&q, "Rückerstattung beantragen", &[]), Some(0));
        assert_eq!(
            rank(&query_words("stattung"), "Rückerstattung", &[]),
            Some(1)
        );
        assert_eq!(
            rank(&query_words("zahlung"), "Karte abgelehnt", &["Zahlung"]),
            Some(2)
        );
        assert_eq!(
            rank(&query_words("pizza"), "Karte abgelehnt", &["Zahlung"]),
            None
        );
    }
}
