//! Report figures (`report_channels`, `report_agents`) added up per report bucket (a run of
//! slots, read as [`RowRange`](crate::domain::report::RowRange)s of both grains) and group
//! in the database, in SQL both dialects accept, as a macro each backend
//! expands over its own connection types (see `sql.rs`).

/// Implements [`ReportStore`](crate::store::ReportStore) for `$store` over `$db`.
macro_rules! sql_reports {
    ($store:ident, $db:path) => {
        mod sql_reports {
            use super::$store;
            use sqlx::QueryBuilder;
            use $crate::domain::report::{BucketFigures, Grain, GroupBy, ReportTable, RowRange};
            use $crate::error::{Error, Result};
            use $crate::store::ReportStore;
            use $crate::store::filter::push_values;
            use $crate::store::sql::{
                Columns, REPORT_COUNTERS, REPORT_DURATIONS, decode_figures, grain_code,
                report_table,
            };

            /// The table a report grouped so reads, and its group (of a row `t` of it).
            fn source(group_by: GroupBy) -> (&'static str, String) {
                let (table, by) = report_table(ReportTable::for_group(group_by));
                let group = match group_by {
                    GroupBy::Nothing => "''".to_string(),
                    GroupBy::Queue => "t.queue".to_string(),
                    GroupBy::Agent | GroupBy::Channel => format!("t.{by}"),
                };
                (table, group)
            }

            /// `WITH b1 (i, lo, hi) AS (VALUES …), b4 … SELECT <select> FROM (…) r`: the rows
            /// of `ranges` in `table`, each as its range's bucket index `r.i`, its `group` as
            /// `r.grp` and the `columns` named (of `t`); one join per
            /// grain, each naming its grain as a constant so the database walks the primary key
            /// per range (PostgreSQL hashed a join on the grain column and compared every row
            /// with every bucket). `None` when there are no ranges. Each report's number of
            /// ranges makes its own statement: run unprepared (`persistent(false)`), not kept in
            /// the connections' statement caches.
            fn push_rows<'a>(
                select: &str,
                (table, group): (&str, &str),
                columns: &[&str],
                ranges: &'a [RowRange],
                queues: &'a [String],
            ) -> Option<QueryBuilder<'a, $db>> {
                let codes: Vec<i64> = Grain::ALL
                    .into_iter()
                    .filter(|grain| ranges.iter().any(|r| r.grain == *grain))
                    .map(grain_code)
                    .collect();
                if codes.is_empty() {
                    return None;
                }
                let mut qb = QueryBuilder::new("WITH ");
                for (n, code) in codes.iter().enumerate() {
                    if n > 0 {
                        qb.push(", ");
                    }
                    qb.push(format!("b{code} (i, lo, hi) AS (VALUES "));
                    let mut list = qb.separated(", ");
                    for range in ranges.iter().filter(|r| grain_code(r.grain) == *code) {
                        list.push("(")
                            .push_bind_unseparated(range.bucket as i64)
                            .push_unseparated(", ")
                            .push_bind_unseparated(range.from)
                            .push_unseparated(", ")
                            .push_bind_unseparated(range.to)
                            .push_unseparated(")");
                    }
                    qb.push(")");
                }
                qb.push(" SELECT ").push(select).push(" FROM (");
                for (n, code) in codes.iter().enumerate() {
                    if n > 0 {
                        qb.push(" UNION ALL ");
                    }
                    let columns: String = columns.iter().map(|c| format!(", t.{c}")).collect();
                    qb.push(format!(
                        "SELECT b.i AS i, {group} AS grp{columns} FROM b{code} b JOIN {table} t \
                         ON t.grain = {code} AND t.slot >= b.lo AND t.slot < b.hi"
                    ));
                    if !queues.is_empty() {
                        qb.push(" AND t.queue IN ");
                        push_values(&mut qb, queues);
                    }
                }
                qb.push(") r");
                Some(qb)
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
                    ranges: &[RowRange],
                    group_by: GroupBy,
                    queues: &[String],
                ) -> Result<Vec<BucketFigures>> {
                    let (table, group) = source(group_by);
                    let select = format!("r.i AS bucket, r.grp AS grp, {SUMS}");
                    let rows = (table, group.as_str());
                    let figures: Vec<&str> = REPORT_COUNTERS
                        .into_iter()
                        .chain(REPORT_DURATIONS)
                        .collect();
                    let Some(mut qb) = push_rows(&select, rows, &figures, ranges, queues) else {
                        return Ok(Vec::new());
                    };
                    qb.push(" GROUP BY r.i, r.grp");
                    let rows = qb
                        .build()
                        .persistent(false)
                        .fetch_all(self.reader())
                        .await?;
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
                    ranges: &[RowRange],
                    group_by: GroupBy,
                    queues: &[String],
                ) -> Result<Vec<(String, i64)>> {
                    let (table, group) = source(group_by);
                    let select =
                        "r.grp AS grp, CAST(COALESCE(SUM(r.backlog), 0) AS BIGINT) AS backlog";
                    let rows = (table, group.as_str());
                    let Some(mut qb) = push_rows(select, rows, &["backlog"], ranges, queues) else {
                        return Ok(Vec::new());
                    };
                    qb.push(" GROUP BY r.grp");
                    let rows = qb
                        .build()
                        .persistent(false)
                        .fetch_all(self.reader())
                        .await?;
                    rows.iter()
                        .map(|row| Ok((row.text("grp")?, row.int("backlog")?)))
                        .collect()
                }
            }
        }
    };
}
pub(crate) use sql_reports;
