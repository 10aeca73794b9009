//! `casework import-ccr FILE`: a CCR taxonomy as JSON (the `Ccr` list of the contract, or
//! `{"nodes": [...]}`) or CSV (`code,level,parent_code,language,text`, one row per
//! translation).
use crate::domain::ccr::{Ccr, Translation};
use crate::error::{Error, Result};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(untagged)]
enum JsonTaxonomy {
    Nodes(Vec<Ccr>),
    Wrapped { nodes: Vec<Ccr> },
}

#[derive(Deserialize)]
struct CsvRow {
    code: String,
    level: i32,
    #[serde(default)]
    parent_code: String,
    language: String,
    text: String,
}

/// Parses JSON when the text starts with `[` or `{`, CSV otherwise.
pub fn parse(text: &str) -> Result<Vec<Ccr>> {
    let trimmed = text.trim_start_matches('\u{feff}').trim_start();
    if trimmed.starts_with('[') || trimmed.starts_with('{') {
        return match serde_json::from_str::<JsonTaxonomy>(trimmed) {
            Ok(JsonTaxonomy::Nodes(nodes)) | Ok(JsonTaxonomy::Wrapped { nodes }) => Ok(nodes),
            Err(e) => Err(Error::invalid("file", format!("not a CCR JSON list: {e}"))),
        };
    }
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(trimmed.as_bytes());
    let mut nodes: Vec<Ccr> = Vec::new();
    for (i, row) in reader.deserialize::<CsvRow>().enumerate() {
        let row = row.map_err(|e| Error::invalid(format!("row {}", i + 2), e.to_string()))?;
        let translation = Translation {
            language: row.language,
            text: row.text,
        };
        match nodes.iter_mut().find(|n| n.code == row.code) {
            Some(node) if node.level == row.level && node.parent_code == row.parent_code => {
                node.translations.push(translation)
            }
            Some(_) => {
                return Err(Error::invalid(
                    format!("row {}", i + 2),
                    format!("{} appears with another level or parent", row.code),
                ));
            }
            None => nodes.push(Ccr {
                code: row.code,
                level: row.level,
                parent_code: row.parent_code,
                translations: vec![translation],
            }),
        }
    }
    Ok(nodes)
}

#[cfg(test)]
mod tests {
    #[test]
    fn csv_rows_merge_translations_and_json_is_accepted() {
        let csv = "code,level,parent_code,language,text\n1,1,,en,Delivery\n1,1,,de,Lieferung\n1A,2,1,en,Late\n";
        let nodes = super::parse(csv).expect("csv");
        assert_eq!(nodes.len(), 2);
        assert_eq!(nodes[0].translations.len(), 2);
        let json = r#"{"nodes": [{"code": "1", "level": 1, "translations": [{"language": "en", "text": "Delivery"}]}]}"#;
        assert_eq!(super::parse(json).expect("json")[0].code, "1");
        assert!(super::parse("[{\"code\": 1}]").is_err());
    }
}
