//! CcrService: decode → app → encode.
use super::principal;
use crate::app::App;
use crate::app::ccr::{CcrTier, SearchableCcr};
use crate::domain::ccr::{Ccr, Translation};
use crate::pb::{self, ccr_service_server::CcrService};
use tonic::{Request, Response, Status};

#[derive(Clone)]
pub struct CcrApi {
    app: App,
}

impl CcrApi {
    pub fn new(app: App) -> Self {
        CcrApi { app }
    }
}

impl From<Ccr> for pb::Ccr {
    fn from(c: Ccr) -> Self {
        pb::Ccr {
            code: c.code,
            level: c.level,
            parent_code: c.parent_code,
            translations: c
                .translations
                .into_iter()
                .map(|t| pb::CcrTranslation {
                    language: t.language,
                    text: t.text,
                })
                .collect(),
        }
    }
}

impl From<pb::Ccr> for Ccr {
    fn from(c: pb::Ccr) -> Self {
        Ccr {
            code: c.code,
            level: c.level,
            parent_code: c.parent_code,
            translations: c
                .translations
                .into_iter()
                .map(|t| Translation {
                    language: t.language,
                    text: t.text,
                })
                .collect(),
        }
    }
}

impl From<CcrTier> for pb::CcrTier {
    fn from(tier: CcrTier) -> Self {
        pb::CcrTier {
            ccr: Some(tier.ccr.into()),
            children: tier.children.into_iter().map(Into::into).collect(),
        }
    }
}

impl From<SearchableCcr> for pb::SearchableCcr {
    fn from(s: SearchableCcr) -> Self {
        pb::SearchableCcr {
            code: s.code,
            level: s.level,
            language: s.language,
            translation: s.translation,
        }
    }
}

#[tonic::async_trait]
impl CcrService for CcrApi {
    async fn list_ccr_tree(
        &self,
        request: Request<pb::ListCcrTreeRequest>,
    ) -> Result<Response<pb::ListCcrTreeResponse>, Status> {
        let principal = principal(&request)?;
        let tiers = self
            .app
            .ccr_tree(&principal, &request.into_inner().language)
            .await?;
        Ok(Response::new(pb::ListCcrTreeResponse {
            tiers: tiers.into_iter().map(Into::into).collect(),
        }))
    }

    async fn search_ccr(
        &self,
        request: Request<pb::SearchCcrRequest>,
    ) -> Result<Response<pb::SearchCcrResponse>, Status> {
        let principal = principal(&request)?;
        let r = request.into_inner();
        let matches = self
            .app
            .search_ccr(&principal, &r.query, &r.language, i64::from(r.page_size))
            .await?;
        Ok(Response::new(pb::SearchCcrResponse {
            results: matches
                .into_iter()
                .map(|m| pb::SearchableCcrChild {
                    data: Some(m.leaf.into()),
                    parents: m.parents.into_iter().map(Into::into).collect(),
                })
                .collect(),
        }))
    }

    async fn get_ccr(
        &self,
        request: Request<pb::GetCcrRequest>,
    ) -> Result<Response<pb::GetCcrResponse>, Status> {
        let principal = principal(&request)?;
        let ccr = self
            .app
            .get_ccr(&principal, &request.into_inner().code)
            .await?;
        Ok(Response::new(pb::GetCcrResponse {
            ccr: Some(ccr.into()),
        }))
    }

    async fn import_ccr(
        &self,
        request: Request<pb::ImportCcrRequest>,
    ) -> Result<Response<pb::ImportCcrResponse>, Status> {
        let principal = principal(&request)?;
        let r = request.into_inner();
        let nodes = r.nodes.into_iter().map(Into::into).collect();
        let summary = self
            .app
            .import_ccr(&principal, nodes, r.validate_only)
            .await?;
        let count = |n: i64| i32::try_from(n).unwrap_or(i32::MAX);
        Ok(Response::new(pb::ImportCcrResponse {
            level1_count: count(summary.level_counts[0]),
            level2_count: count(summary.level_counts[1]),
            level3_count: count(summary.level_counts[2]),
            translation_count: count(summary.translation_count),
            removed_count: count(summary.removed_count),
        }))
    }
}
