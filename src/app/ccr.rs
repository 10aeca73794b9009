//! CCR use cases: the tree, search, lookup and replacing the taxonomy.
use super::App;
use super::validate::{MAX_NAME_LEN, Violations};
use crate::domain::ccr::{self, Ccr};
use crate::domain::{Principal, Role};
use crate::error::{Error, Result};
use std::collections::HashMap;

/// A node with its children, for ListCcrTree.
#[derive(Debug, Clone, PartialEq)]
pub struct CcrTier {
    pub ccr: Ccr,
    pub children: Vec<CcrTier>,
}

/// One node in one language, for search results.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchableCcr {
    pub code: String,
    pub level: i32,
    pub language: String,
    pub translation: String,
}

/// A matching leaf with its parents, level 1 first.
#[derive(Debug, Clone, PartialEq)]
pub struct CcrMatch {
    pub leaf: SearchableCcr,
    pub parents: Vec<SearchableCcr>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportSummary {
    pub level_counts: [i64; 3],
    pub translation_count: i64,
    pub removed_count: i64,
}

fn check_language(v: &mut Violations, language: &str) {
    if language.len() > 16
        || language
            .chars()
            .any(|c| !c.is_ascii_alphanumeric() && c != '-' && c != '_')
    {
        v.add(
            "language",
            "must be a language code of up to 16 letters, digits or dashes",
        );
    }
}

impl App {
    pub async fn ccr_tree(&self, principal: &Principal, language: &str) -> Result<Vec<CcrTier>> {
        let mut v = Violations::new();
        check_language(&mut v, language);
        v.finish()?;
        self.reference_access(principal).await?;
        let mut nodes = self.store.list_ccr().await?;
        if !language.is_empty() {
            for node in &mut nodes {
                node.translations.retain(|t| t.language == language);
            }
        }
        let mut children: HashMap<String, Vec<Ccr>> = HashMap::new();
        for node in nodes {
            children
                .entry(node.parent_code.clone())
                .or_default()
                .push(node);
        }
        fn build(parent: &str, children: &mut HashMap<String, Vec<Ccr>>) -> Vec<CcrTier> {
            children
                .remove(parent)
                .unwrap_or_default()
                .into_iter()
                .map(|ccr| CcrTier {
                    children: build(&ccr.code, children),
                    ccr,
                })
                .collect()
        }
        Ok(build("", &mut children))
    }

    pub async fn get_ccr(&self, principal: &Principal, code: &str) -> Result<Ccr> {
        let mut v = Violations::new();
        v.id("code", code);
        v.finish()?;
        self.reference_access(principal).await?;
        self.store
            .get_ccr(code)
            .await?
            .ok_or_else(|| Error::NotFound(format!("CCR {code}")))
    }

    /// Leaves whose text in `language` matches `query`, case- and accent-insensitively, word
    /// prefixes first, then substrings, then matches through a parent's text.
    pub async fn search_ccr(
        &self,
        principal: &Principal,
        query: &str,
        language: &str,
        page_size: i64,
    ) -> Result<Vec<CcrMatch>> {
        let mut v = Violations::new();
        v.required_text("query", query, MAX_NAME_LEN);
        check_language(&mut v, language);
        if !(0..=100).contains(&page_size) {
            v.add("page_size", "must be between 0 and 100");
        }
        let words = ccr::query_words(query);
        if words.is_empty() && !query.trim().is_empty() {
            v.add("query", "must contain a letter or digit");
        }
        v.finish()?;
        self.reference_access(principal).await?;
        let language = if language.is_empty() { "en" } else { language };
        let limit = if page_size == 0 {
            20
        } else {
            page_size as usize
        };
        let nodes = self.store.list_ccr().await?;
        let by_code: HashMap<&str, &Ccr> = nodes.iter().map(|n| (n.code.as_str(), n)).collect();
        let searchable = |node: &Ccr| {
            node.text(language).map(|text| SearchableCcr {
                code: node.code.clone(),
                level: node.level,
                language: language.to_string(),
                translation: text.to_string(),
            })
        };
        let mut matches: Vec<(u8, CcrMatch)> = Vec::new();
        for leaf in nodes.iter().filter(|n| n.level == 3) {
            let Some(leaf_entry) = searchable(leaf) else {
                continue;
            };
            let mut parents = Vec::new();
            let mut parent = by_code.get(leaf.parent_code.as_str());
            while let Some(node) = parent {
                parents.extend(searchable(node));
                parent = by_code.get(node.parent_code.as_str());
            }
            parents.reverse();
            let parent_texts: Vec<&str> = parents.iter().map(|p| p.translation.as_str()).collect();
            if let Some(rank) = ccr::rank(&words, &leaf_entry.translation, &parent_texts) {
                matches.push((
                    rank,
                    CcrMatch {
                        leaf: leaf_entry,
                        parents,
                    },
                ));
            }
        }
        matches.sort_by(|(a_rank, a), (b_rank, b)| {
            a_rank
                .cmp(b_rank)
                .then_with(|| a.leaf.code.cmp(&b.leaf.code))
        });
        Ok(matches.into_iter().take(limit).map(|(_, m)| m).collect())
    }

    /// ImportCcr: admins replace the taxonomy.
    pub async fn import_ccr(
        &self,
        principal: &Principal,
        nodes: Vec<Ccr>,
        validate_only: bool,
    ) -> Result<ImportSummary> {
        self.access(principal)
            .await?
            .require(&[Role::Admin], "import the CCR taxonomy")?;
        self.replace_taxonomy(nodes, validate_only).await
    }

    /// Validates the whole tree first (every problem listed) and replaces the taxonomy only
    /// if it is sound. Used by ImportCcr and `casework import-ccr`.
    pub async fn replace_taxonomy(
        &self,
        nodes: Vec<Ccr>,
        validate_only: bool,
    ) -> Result<ImportSummary> {
        let problems = ccr::validate_tree(&nodes);
        if !problems.is_empty() {
            return Err(Error::InvalidArgument(problems));
        }
        let mut summary = ImportSummary::default();
        for node in &nodes {
            summary.level_counts[(node.level - 1) as usize] += 1;
            summary.translation_count += node.translations.len() as i64;
        }
        if validate_only {
            let existing = self.store.list_ccr().await?;
            let kept: std::collections::HashSet<&str> =
                nodes.iter().map(|n| n.code.as_str()).collect();
            summary.removed_count = existing
                .iter()
                .filter(|n| !kept.contains(n.code.as_str()))
                .count() as i64;
        } else {
            summary.removed_count = self.store.replace_ccr(nodes).await?;
        }
        Ok(summary)
    }
}
