//! Report counters (`report_slots`, `report_durations`) added up per report bucket (a run of
//! slots) and group in the database, in SQL both dialects accept, as a macro each backend
//! expands over its own connection types (see `sql.rs`).

/// Implements [`ReportStore`](crate::store::ReportStore) for `$store` over `$db`.
macro_rules! sql_reports {
    ($store:ident, $db:path) => {
        mod sql_reports {
            use super::$store;
            use sqlx::QueryBuilder;
            use $crate::domain::report::{
                BucketCounts, BucketDurations, Counts, DurationKind, GroupBy,
            };
            use $crate::error::{Error, Result};
            use $crate::store::ReportStore;
            use $crate::store::filter::push_values;
            use $crate::store::sql::Columns;

            /// The grouping column (of `r`).
            fn group_column(group_by: GroupBy) -> &'static str {
                match group_by {
                    GroupBy::Nothing => "''",
                    GroupBy::Queue => "r.queue",
                    GroupBy::Agent => "r.agent",
                    GroupBy::Channel => "r.channel",
                }
            }

            /// `GROUP BY` the bucket, the group and `more`.
            fn push_group_by(qb: &mut QueryBuilder<'_, $db>, group_by: GroupBy, more: &str) {
                qb.push(" GROUP BY b.i");
                if group_by != GroupBy::Nothing {
                    qb.push(", ").push(group_column(group_by));
                }
                qb.push(more);
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

            /// `SELECT b.i AS bucket, <group> AS grp, <columns> FROM b JOIN <table> r` over the
            /// buckets' slot ranges, `WHERE <condition>` and the queues; the caller groups.
            fn bucketed<'a>(
                buckets: &'a [(i64, i64)],
                group_by: GroupBy,
                columns: &str,
                table: &str,
                condition: &str,
                queues: &'a [String],
            ) -> QueryBuilder<'a, $db> {
                let mut qb = QueryBuilder::new("");
                push_buckets(&mut qb, buckets);
                qb.push("SELECT b.i AS bucket, ")
                    .push(group_column(group_by))
                    .push(" AS grp, ")
                    .push(columns)
                    .push(" FROM b JOIN ")
                    .push(table)
                    .push(" r ON r.slot >= b.lo AND r.slot < b.hi WHERE ")
                    .push(condition);
                push_queues(&mut qb, queues);
                qb
            }

            fn push_queues(qb: &mut QueryBuilder<'_, $db>, queues: &[String]) {
                if !queues.is_empty() {
                    qb.push(" AND r.queue IN ");
                    push_values(qb, queues);
                }
            }

            fn bucket(row: &impl Columns) -> Result<usize> {
                usize::try_from(row.int("bucket")?)
                    .map_err(|e| Error::Internal(format!("bucket index: {e}")))
            }

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
                 CAST(SUM(r.rating_5) AS BIGINT) AS rating_5";

            #[async_trait::async_trait]
            impl ReportStore for $store {
                async fn report_counts(
                    &self,
                    buckets: &[(i64, i64)],
                    group_by: GroupBy,
                    queues: &[String],
                ) -> Result<Vec<BucketCounts>> {
                    if buckets.is_empty() {
                        return Ok(Vec::new());
                    }
                    let mut qb = bucketed(buckets, group_by, SUMS, "report_slots", "1 = 1", queues);
                    push_group_by(&mut qb, group_by, "");
                    let rows = qb.build().fetch_all(self.reader()).await?;
                    rows.iter()
                        .map(|row| {
                            Ok(BucketCounts {
                                bucket: bucket(row)?,
                                group: row.text("grp")?,
                                counts: Counts {
                                    created: row.int("created")?,
                                    closed: row.int("closed")?,
                                    reopened: row.int("reopened")?,
                                    backlog: row.int("backlog")?,
                                    breaches: row.int("breaches")?,
                                    sla_closed: row.int("sla_closed")?,
                                    sla_within: row.int("sla_within")?,
                                    ratings: [
                                        row.int("rating_1")?,
                                        row.int("rating_2")?,
                                        row.int("rating_3")?,
                                        row.int("rating_4")?,
                                        row.int("rating_5")?,
                                    ],
                                },
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
                    let mut qb = QueryBuilder::new("SELECT ");
                    qb.push(group_column(group_by))
                        .push(
                            " AS grp, CAST(COALESCE(SUM(r.backlog), 0) AS BIGINT) AS backlog \
                             FROM report_slots r WHERE r.slot < ",
                        )
                        .push_bind(before_slot);
                    push_queues(&mut qb, queues);
                    if group_by != GroupBy::Nothing {
                        qb.push(" GROUP BY ").push(group_column(group_by));
                    }
                    let rows = qb.build().fetch_all(self.reader()).await?;
                    rows.iter()
                        .map(|row| Ok((row.text("grp")?, row.int("backlog")?)))
                        .collect()
                }

                async fn report_durations(
                    &self,
                    buckets: &[(i64, i64)],
                    group_by: GroupBy,
                    queues: &[String],
                ) -> Result<Vec<BucketDurations>> {
                    if buckets.is_empty() {
                        return Ok(Vec::new());
                    }
                    let mut qb = bucketed(
                        buckets,
                        group_by,
                        "r.kind, r.seconds, CAST(SUM(r.tickets) AS BIGINT) AS tickets",
                        "report_durations",
                        "r.kind IN ('FIRST_REPLY', 'RESOLUTION')",
                        queues,
                    );
                    push_group_by(&mut qb, group_by, ", r.kind, r.seconds");
                    let rows = qb.build().fetch_all(self.reader()).await?;
                    rows.iter()
                        .map(|row| {
                            let kind = row.text("kind")?;
                            Ok(BucketDurations {
                                bucket: bucket(row)?,
                                group: row.text("grp")?,
                                kind: DurationKind::parse(&kind).ok_or_else(|| {
                                    Error::Internal(format!("unknown duration kind {kind}"))
                                })?,
                                seconds: row.int("seconds")?,
                                tickets: row.int("tickets")?,
                            })
                        })
                        .collect()
                }
            }
        }
    };
}
pub(crate) use sql_reports;
