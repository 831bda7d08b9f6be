"""Checks the operator's OpenLineage events with the openlineage-python client (PyPI).

Each event in the JSON array given as argv[1] is rebuilt with the client's strict classes
(event_v2 and facet_v2; they validate types, enums and UUIDs as they are constructed) and
serialised again with the client's Serde; the result must equal the emitted event exactly.
Run by tests/openlineage.rs; exit 1 with the difference otherwise.
"""
import json
import sys

from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.facet_v2 import (
    job_type_job,
    nominal_time_run,
    schema_dataset,
    symlinks_dataset,
)
from openlineage.client.serde import Serde


def fields(items):
    return [
        schema_dataset.SchemaDatasetFacetFields(
            name=f["name"],
            type=f.get("type"),
            description=f.get("description"),
            fields=fields(f.get("fields", [])),
        )
        for f in items
    ]


def dataset_facets(facets):
    out = {}
    for key, facet in facets.items():
        if key == "schema":
            out[key] = schema_dataset.SchemaDatasetFacet(
                fields=fields(facet["fields"]), producer=facet["_producer"]
            )
        elif key == "symlinks":
            out[key] = symlinks_dataset.SymlinksDatasetFacet(
                identifiers=[
                    symlinks_dataset.Identifier(namespace=i["namespace"], name=i["name"], type=i["type"])
                    for i in facet["identifiers"]
                ],
                producer=facet["_producer"],
            )
        else:
            raise SystemExit(f"unexpected dataset facet {key}")
    return out


def rebuild(e):
    run_facets = {}
    for key, facet in e["run"]["facets"].items():
        if key != "nominalTime":
            raise SystemExit(f"unexpected run facet {key}")
        run_facets[key] = nominal_time_run.NominalTimeRunFacet(
            nominalStartTime=facet["nominalStartTime"], producer=facet["_producer"]
        )
    job_facets = {}
    for key, facet in e["job"]["facets"].items():
        if key != "jobType":
            raise SystemExit(f"unexpected job facet {key}")
        job_facets[key] = job_type_job.JobTypeJobFacet(
            processingType=facet["processingType"],
            integration=facet["integration"],
            jobType=facet.get("jobType"),
            producer=facet["_producer"],
        )
    return RunEvent(
        eventType=RunState(e["eventType"]),
        eventTime=e["eventTime"],
        producer=e["producer"],
        run=Run(runId=e["run"]["runId"], facets=run_facets),
        job=Job(namespace=e["job"]["namespace"], name=e["job"]["name"], facets=job_facets),
        inputs=[
            InputDataset(namespace=d["namespace"], name=d["name"], facets=dataset_facets(d["facets"]))
            for d in e["inputs"]
        ],
        outputs=[
            OutputDataset(namespace=d["namespace"], name=d["name"], facets=dataset_facets(d["facets"]))
            for d in e["outputs"]
        ],
    )


def main():
    events = json.load(open(sys.argv[1]))
    if not events:
        raise SystemExit("no events")
    for e in events:
        again = Serde.to_dict(rebuild(e))
        if again != e:
            print("emitted:   ", json.dumps(e, sort_keys=True))
            print("client has:", json.dumps(again, sort_keys=True))
            sys.exit(1)
    print(f"{len(events)} events match openlineage-python's RunEvent")


main()
