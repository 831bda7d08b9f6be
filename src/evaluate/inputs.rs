//! Whether a product's inputs from other products are ready, and which of its pipelines wait
//! for them (pure). Decided from the producers as observed (their phase and their published
//! freshness, from the world the operator reads out of its caches), the deprecations they
//! announce, and the day. Offline there is nothing observed, so nothing waits.

use crate::api::{
    DataProduct, DeprecationNotice, Freshness, InputStatus, Phase, ProductRef, PublishedOutput,
};
use crate::model::world::deprecation_of;
use crate::model::World;

/// The producer does not exist, has no status yet, or is not Ready.
pub const INPUT_NOT_READY: &str = "InputNotReady";
/// The producer reports the output older than its freshness SLO.
pub const INPUT_STALE: &str = "InputStale";
/// The output's sunset has passed.
pub const INPUT_RETIRED: &str = "InputRetired";

pub use crate::plan::Gated;

/// One entry per input read from another product (external sources and the product's own
/// outputs are not gated), in declaration order. `observed` says whether the producers' statuses
/// in `world` are observations (the operator, a diff against a cluster): offline files carry
/// none, so a producer without status is then not held against its consumers.
pub fn observe(
    product: &DataProduct,
    world: &World,
    observed: bool,
    today: jiff::civil::Date,
) -> Vec<InputStatus> {
    let me = World::product_ref(product);
    let previous = product
        .status
        .as_ref()
        .map(|s| s.inputs.as_slice())
        .unwrap_or_default();
    product
        .spec
        .inputs
        .iter()
        .filter_map(|i| {
            let pref = ProductRef::parse(i.product.as_deref()?)?;
            let output = i.output.clone()?;
            (pref != me).then_some((pref, output))
        })
        .map(|(pref, output)| {
            let before = previous
                .iter()
                .find(|s| s.product == pref.to_string() && s.output == output);
            input(
                world.products.get(&pref),
                &pref,
                output,
                before,
                observed,
                today,
            )
        })
        .collect()
}

fn input(
    producer: Option<&DataProduct>,
    pref: &ProductRef,
    output: String,
    before: Option<&InputStatus>,
    observed: bool,
    today: jiff::civil::Date,
) -> InputStatus {
    let mut s = InputStatus {
        product: pref.to_string(),
        output: output.clone(),
        ready: true,
        ..InputStatus::default()
    };
    let held = |s: &mut InputStatus, reason: &str, message: String| {
        s.ready = false;
        s.reason = Some(reason.to_string());
        s.message = Some(message);
    };
    let Some(producer) = producer else {
        if observed {
            held(&mut s, INPUT_NOT_READY, format!("{pref} does not exist"));
        }
        return s;
    };
    let status = producer.status.as_ref();
    s.phase = status.and_then(|st| st.phase);
    let published: Option<&PublishedOutput> =
        status.and_then(|st| st.outputs.iter().find(|o| o.name == output));
    s.freshness = published.and_then(|o| o.freshness);
    s.last_updated = published.and_then(|o| o.last_updated.clone());
    let declared = producer.spec.outputs.iter().any(|o| o.name == output);
    s.deprecation = deprecation_of(producer, &output)
        .filter(|_| declared)
        .map(DeprecationNotice::from)
        // A removed output keeps the notice its consumers were given.
        .or_else(|| before.and_then(|b| b.deprecation.clone()));
    // Past its sunset: retired, whether the producer still declares it or has removed it.
    let retired = s
        .deprecation
        .as_ref()
        .filter(|d| {
            d.sunset
                .parse::<jiff::civil::Date>()
                .is_ok_and(|sunset| sunset < today)
        })
        .map(|d| (d.sunset.clone(), d.move_to()));
    if let Some((sunset, move_to)) = retired {
        let what = if declared {
            format!("output {output} was retired")
        } else {
            format!("removed output {output}")
        };
        held(
            &mut s,
            INPUT_RETIRED,
            format!("{pref} {what} after its sunset on {sunset}{move_to}"),
        );
    } else if !observed {
        // Offline: phases and freshness are not known, so nothing else holds a pipeline.
    } else if s.phase != Some(Phase::Ready) {
        let phase = s
            .phase
            .map(|p| format!("is {p:?}"))
            .unwrap_or_else(|| "has no status yet".to_string());
        held(&mut s, INPUT_NOT_READY, format!("{pref} {phase}"));
    } else if !declared {
        held(
            &mut s,
            INPUT_NOT_READY,
            format!("{pref} has no output {output}"),
        );
    } else if s.freshness == Some(Freshness::Stale) {
        let since = s
            .last_updated
            .as_deref()
            .map(|t| format!(" (last updated {t})"))
            .unwrap_or_else(|| " (never updated)".to_string());
        held(
            &mut s,
            INPUT_STALE,
            format!("{pref} output {output} is stale{since}"),
        );
    }
    s
}

/// The pipelines held by `inputs`: those that wait for inputs and read one that is not ready.
/// A pipeline reads an input by its output name.
pub fn gated(product: &DataProduct, inputs: &[InputStatus]) -> Vec<Gated> {
    product
        .spec
        .pipelines
        .iter()
        .filter(|p| p.wait_for_inputs)
        .filter_map(|p| {
            let holding: Vec<&InputStatus> = inputs
                .iter()
                .filter(|i| !i.ready && p.reads.contains(&i.output))
                .collect();
            let first = holding.first()?;
            let reason = match first.reason.as_deref() {
                Some(INPUT_RETIRED) => INPUT_RETIRED,
                Some(INPUT_STALE) => INPUT_STALE,
                _ => INPUT_NOT_READY,
            };
            let why: Vec<String> = holding
                .iter()
                .map(|i| i.message.clone().unwrap_or_default())
                .collect();
            Some(Gated {
                pipeline: p.name.clone(),
                reason,
                message: format!("pipeline {} waits: {}", p.name, why.join("; ")),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{DataProductStatus, Deprecation, Input, Output, Pipeline, PublishedOutput};

    fn day(s: &str) -> jiff::civil::Date {
        s.parse().unwrap()
    }

    fn producer(phase: Option<Phase>, freshness: Option<Freshness>) -> DataProduct {
        let mut p = DataProduct::new("orders", Default::default());
        p.metadata.namespace = Some("sales".into());
        p.spec.outputs = vec![Output {
            name: "orders".into(),
            ..Output::default()
        }];
        p.status = phase.map(|phase| DataProductStatus {
            phase: Some(phase),
            outputs: vec![PublishedOutput {
                name: "orders".into(),
                freshness,
                last_updated: Some("2026-11-30T03:00:00Z".into()),
                ..PublishedOutput::default()
            }],
            ..DataProductStatus::default()
        });
        p
    }

    fn consumer(wait: bool) -> DataProduct {
        let mut c = DataProduct::new("revenue", Default::default());
        c.metadata.namespace = Some("finance".into());
        c.spec.inputs = vec![
            Input {
                product: Some("sales/orders".into()),
                output: Some("orders".into()),
                external: None,
            },
            Input {
                external: Some(crate::api::ExternalInput {
                    name: "fx".into(),
                    description: String::new(),
                }),
                ..Input::default()
            },
        ];
        c.spec.pipelines = vec![
            Pipeline {
                name: "daily".into(),
                reads: vec!["orders".into(), "fx".into()],
                wait_for_inputs: wait,
                ..Pipeline::default()
            },
            Pipeline {
                name: "rates".into(),
                reads: vec!["fx".into()],
                ..Pipeline::default()
            },
        ];
        c
    }

    fn world(p: Option<DataProduct>) -> World {
        let mut w = World::default();
        if let Some(p) = p {
            w.add_product(p);
        }
        w
    }

    fn decide(
        p: Option<DataProduct>,
        observed: bool,
        today: &str,
    ) -> (Vec<InputStatus>, Vec<Gated>) {
        let c = consumer(true);
        let inputs = observe(&c, &world(p), observed, day(today));
        let gated = gated(&c, &inputs);
        (inputs, gated)
    }

    #[test]
    fn a_ready_fresh_or_unknown_input_holds_nothing() {
        for f in [Some(Freshness::Fresh), Some(Freshness::Unknown), None] {
            let (inputs, gated) = decide(Some(producer(Some(Phase::Ready), f)), true, "2026-12-01");
            assert_eq!(inputs.len(), 1, "external inputs are not listed");
            assert!(inputs[0].ready, "{f:?}");
            assert_eq!(inputs[0].phase, Some(Phase::Ready));
            assert_eq!(
                inputs[0].last_updated.as_deref(),
                Some("2026-11-30T03:00:00Z")
            );
            assert!(gated.is_empty(), "{f:?}");
        }
    }

    #[test]
    fn missing_not_ready_and_stale_producers_hold_the_pipelines_that_read_them() {
        let cases = [
            (None, INPUT_NOT_READY, "sales/orders does not exist"),
            (
                Some(producer(None, None)),
                INPUT_NOT_READY,
                "sales/orders has no status yet",
            ),
            (
                Some(producer(Some(Phase::Degraded), Some(Freshness::Fresh))),
                INPUT_NOT_READY,
                "sales/orders is Degraded",
            ),
            (
                Some(producer(Some(Phase::Ready), Some(Freshness::Stale))),
                INPUT_STALE,
                "sales/orders output orders is stale (last updated 2026-11-30T03:00:00Z)",
            ),
        ];
        for (p, reason, message) in cases {
            let (inputs, gated) = decide(p, true, "2026-12-01");
            assert!(!inputs[0].ready);
            assert_eq!(inputs[0].reason.as_deref(), Some(reason));
            assert_eq!(inputs[0].message.as_deref(), Some(message));
            // Only the pipeline that reads the input waits; the external source never does.
            assert_eq!(gated.len(), 1, "{gated:?}");
            assert_eq!(gated[0].pipeline, "daily");
            assert_eq!(gated[0].reason, reason);
            assert!(gated[0].message.contains(message), "{}", gated[0].message);
        }
    }

    #[test]
    fn offline_nothing_observed_holds_nothing() {
        for p in [None, Some(producer(None, None))] {
            let (inputs, gated) = decide(p, false, "2026-12-01");
            assert!(inputs[0].ready);
            assert!(gated.is_empty());
        }
    }

    #[test]
    fn opting_out_runs_on_schedule() {
        let c = consumer(false);
        let inputs = observe(&c, &world(None), true, day("2026-12-01"));
        assert!(!inputs[0].ready);
        assert!(gated(&c, &inputs).is_empty());
    }

    #[test]
    fn a_deprecation_is_shown_then_retires_the_input_after_its_sunset() {
        let mut p = producer(Some(Phase::Ready), Some(Freshness::Fresh));
        p.spec.outputs[0].deprecation = Some(Deprecation {
            announced: "2026-09-01".into(),
            sunset: "2026-12-31".into(),
            replaced_by: Some("orders_v2".into()),
            reason: None,
        });
        let (inputs, gated) = decide(Some(p.clone()), true, "2026-12-31");
        let notice = inputs[0].deprecation.clone().unwrap();
        assert_eq!(notice.sunset, "2026-12-31");
        assert_eq!(notice.replaced_by.as_deref(), Some("orders_v2"));
        assert!(inputs[0].ready, "the sunset day itself still counts");
        assert!(gated.is_empty());

        let (inputs, gated) = decide(Some(p.clone()), false, "2027-01-01");
        assert_eq!(
            inputs[0].reason.as_deref(),
            Some(INPUT_RETIRED),
            "offline too"
        );
        assert_eq!(gated[0].reason, INPUT_RETIRED);
        assert!(
            gated[0].message.contains("move to orders_v2"),
            "{}",
            gated[0].message
        );

        // The producer then removes the output: the consumer's recorded notice keeps it retired.
        let mut c = consumer(true);
        c.status = Some(DataProductStatus {
            inputs: inputs.clone(),
            ..DataProductStatus::default()
        });
        p.spec.outputs[0].name = "orders_v2".into();
        let after = observe(&c, &world(Some(p)), true, day("2027-01-02"));
        assert_eq!(after[0].reason.as_deref(), Some(INPUT_RETIRED));
        assert_eq!(after[0].deprecation, Some(notice));
    }

    #[test]
    fn the_whole_product_deprecated_deprecates_its_outputs() {
        let mut p = producer(Some(Phase::Ready), Some(Freshness::Fresh));
        p.spec.deprecation = Some(Deprecation {
            announced: "2026-09-01".into(),
            sunset: "2026-12-31".into(),
            replaced_by: Some("sales/orders-v2".into()),
            reason: Some("rebuilt on the new order model".into()),
        });
        let (inputs, _) = decide(Some(p), true, "2026-12-01");
        assert_eq!(
            inputs[0]
                .deprecation
                .as_ref()
                .unwrap()
                .replaced_by
                .as_deref(),
            Some("sales/orders-v2")
        );
    }
}
