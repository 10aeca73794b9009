//! Report counters (`report_slots`, `report_durations`) read back, in SQL both dialects
//! accept, as a macro each backend expands over its own connection types (see `sql.rs`).

/// Implements [`ReportStore`](crate::store::ReportStore) for `$store` over `$db`.
macro_rules! sql_reports {
    ($store:ident, $db:path) => {
        mod sql_reports {
            use super::$store;
            use sqlx::QueryBuilder;
            use $crate::domain::report::{
                Counts, DurationKind, GroupKey, SlotCounts, SlotDurations,
            };
            use $crate::error::{Error, Result};
            use $crate::store::ReportStore;
            use $crate::store::filter::push_values;
            use $crate::store::sql::Columns;

            fn push_queues(qb: &mut QueryBuilder<'_, $db>, queues: &[String]) {
                if !queues.is_empty() {
                    qb.push(" AND queue IN ");
                    push_values(qb, queues);
                }
            }

            fn key(row: &impl Columns) -> Result<GroupKey> {
                Ok(GroupKey {
                    queue: row.text("queue")?,
                    agent: row.text("agent")?,
                    channel: row.text("channel")?,
                })
            }

            #[async_trait::async_trait]
            impl ReportStore for $store {
                async fn report_counts(
                    &self,
                    from_slot: i64,
                    to_slot: i64,
                    queues: &[String],
                ) -> Result<Vec<SlotCounts>> {
                    let mut qb = QueryBuilder::new(
                        "SELECT slot, queue, agent, channel, created, closed, reopened, backlog, \
                         breaches, sla_closed, sla_within, rating_1, rating_2, rating_3, \
                         rating_4, rating_5 FROM report_slots WHERE slot >= ",
                    );
                    qb.push_bind(from_slot)
                        .push(" AND slot < ")
                        .push_bind(to_slot);
                    push_queues(&mut qb, queues);
                    let rows = qb.build().fetch_all(self.reader()).await?;
                    rows.iter()
                        .map(|row| {
                            Ok(SlotCounts {
                                slot: row.int("slot")?,
                                key: key(row)?,
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
                    queues: &[String],
                ) -> Result<Vec<(GroupKey, i64)>> {
                    let mut qb = QueryBuilder::new(
                        "SELECT queue, agent, channel, CAST(SUM(backlog) AS BIGINT) AS backlog \
                         FROM report_slots WHERE slot < ",
                    );
                    qb.push_bind(before_slot);
                    push_queues(&mut qb, queues);
                    qb.push(" GROUP BY queue, agent, channel");
                    let rows = qb.build().fetch_all(self.reader()).await?;
                    rows.iter()
                        .map(|row| Ok((key(row)?, row.int("backlog")?)))
                        .collect()
                }

                async fn report_durations(
                    &self,
                    from_slot: i64,
                    to_slot: i64,
                    queues: &[String],
                ) -> Result<Vec<SlotDurations>> {
                    let mut qb = QueryBuilder::new(
                        "SELECT kind, slot, queue, agent, channel, seconds, tickets \
                         FROM report_durations WHERE kind IN ('FIRST_REPLY', 'RESOLUTION') \
                         AND slot >= ",
                    );
                    qb.push_bind(from_slot)
                        .push(" AND slot < ")
                        .push_bind(to_slot);
                    push_queues(&mut qb, queues);
                    let rows = qb.build().fetch_all(self.reader()).await?;
                    rows.iter()
                        .map(|row| {
                            let kind = row.text("kind")?;
                            Ok(SlotDurations {
                                kind: DurationKind::parse(&kind).ok_or_else(|| {
                                    Error::Internal(format!("unknown duration kind {kind}"))
                                })?,
                                slot: row.int("slot")?,
                                key: key(row)?,
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
