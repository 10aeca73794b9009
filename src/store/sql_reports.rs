//! Report figures (`report_channels`, `report_agents`) added up per report bucket (a run of
//! slots) and group in the database, in SQL both dialects accept, as a macro each backend
//! expands over its own connection types (see `sql.rs`).

/// Implements [`ReportStore`](crate::store::ReportStore) for `$store` over `$db`.
macro_rules! sql_reports {
    ($store:ident, $db:path) => {
        mod sql_reports {
            use super::$store;
            use sqlx::QueryBuilder;
            use $crate::domain::report::{BucketFigures, GroupBy, ReportTable};
            use $crate::error::{Error, Result};
            use $crate::store::ReportStore;
            use $crate::store::filter::push_values;
            use $crate::store::sql::{Columns, decode_figures, report_table};

            /// The table a report grouped so reads, and its grouping column (of `r`).
            fn source(group_by: GroupBy) -> (&'static str, String) {
                let (table, by) = report_table(ReportTable::for_group(group_by));
                let column = match group_by {
                    GroupBy::Nothing => "''".to_string(),
                    GroupBy::Queue => "r.queue".to_string(),
                    GroupBy::Agent | GroupBy::Channel => format!("r.{by}"),
                };
                (table, column)
            }

            /// `WITH b (i, lo, hi) AS (VALUES …)`: the buckets as slot ranges.
            fn push_buckets(qb: &mut QueryBuilder<'_, $db>, buckets: &[(i64, i64)]) {
                qb.push("WITH b (i, lo, hi) AS (VALUES ");
                let mut list = qb.separated(", ");
                for (i, (lo, hi)) in buckets.iter().enumerate() {
                    list.push("(")
                        .push_bind_unseparated(i as i64)
                        .push_unseparated(", ")
                        .push_bind_unseparated(*lo)
                        .push_unseparated(", ")
                        .push_bind_unseparated(*hi)
                        .push_unseparated(")");
                }
                qb.push(") ");
            }

            fn push_queues(qb: &mut QueryBuilder<'_, $db>, queues: &[String]) {
                if !queues.is_empty() {
                    qb.push(" AND r.queue IN ");
                    push_values(qb, queues);
                }
            }

            /// Sums of the counters and concatenations of the duration lists.
            const SUMS: &str = "CAST(SUM(r.created) AS BIGINT) AS created, \
                 CAST(SUM(r.closed) AS BIGINT) AS closed, \
                 CAST(SUM(r.reopened) AS BIGINT) AS reopened, \
                 CAST(SUM(r.backlog) AS BIGINT) AS backlog, \
                 CAST(SUM(r.breaches) AS BIGINT) AS breaches, \
                 CAST(SUM(r.sla_closed) AS BIGINT) AS sla_closed, \
                 CAST(SUM(r.sla_within) AS BIGINT) AS sla_within, \
                 CAST(SUM(r.rating_1) AS BIGINT) AS rating_1, \
                 CAST(SUM(r.rating_2) AS BIGINT) AS rating_2, \
                 CAST(SUM(r.rating_3) AS BIGINT) AS rating_3, \
                 CAST(SUM(r.rating_4) AS BIGINT) AS rating_4, \
                 CAST(SUM(r.rating_5) AS BIGINT) AS rating_5, \
                 string_agg(r.first_reply, '') AS first_reply, \
                 string_agg(r.resolution, '') AS resolution";

            #[async_trait::async_trait]
            impl ReportStore for $store {
                async fn report_figures(
                    &self,
                    buckets: &[(i64, i64)],
                    group_by: GroupBy,
                    queues: &[String],
                ) -> Result<Vec<BucketFigures>> {
                    if buckets.is_empty() {
                        return Ok(Vec::new());
                    }
                    let (table, column) = source(group_by);
                    let mut qb = QueryBuilder::new("");
                    push_buckets(&mut qb, buckets);
                    qb.push("SELECT b.i AS bucket, ")
                        .push(&column)
                        .push(" AS grp, ")
                        .push(SUMS)
                        .push(" FROM b JOIN ")
                        .push(table)
                        .push(" r ON r.slot >= b.lo AND r.slot < b.hi WHERE 1 = 1");
                    push_queues(&mut qb, queues);
                    qb.push(" GROUP BY b.i");
                    if group_by != GroupBy::Nothing {
                        qb.push(", ").push(&column);
                    }
                    let rows = qb.build().fetch_all(self.reader()).await?;
                    rows.iter()
                        .map(|row| {
                            Ok(BucketFigures {
                                bucket: usize::try_from(row.int("bucket")?)
                                    .map_err(|e| Error::Internal(format!("bucket index: {e}")))?,
                                group: row.text("grp")?,
                                figures: decode_figures(row)?,
                            })
                        })
                        .collect()
                }

                async fn report_backlog(
                    &self,
                    before_slot: i64,
                    group_by: GroupBy,
                    queues: &[String],
                ) -> Result<Vec<(String, i64)>> {
                    let (table, column) = source(group_by);
                    let mut qb = QueryBuilder::new("SELECT ");
                    qb.push(&column)
                        .push(
                            " AS grp, CAST(COALESCE(SUM(r.backlog), 0) AS BIGINT) AS backlog FROM ",
                        )
                        .push(table)
                        .push(" r WHERE r.slot < ")
                        .push_bind(before_slot);
                    push_queues(&mut qb, queues);
                    if group_by != GroupBy::Nothing {
                        qb.push(" GROUP BY ").push(&column);
                    }
                    let rows = qb.build().fetch_all(self.reader()).await?;
                    rows.iter()
                        .map(|row| Ok((row.text("grp")?, row.int("backlog")?)))
                        .collect()
                }
            }
        }
    };
}
pub(crate) use sql_reports;
