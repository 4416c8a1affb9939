"""deploy/k8s/stream-train-job.yaml: the distributed training job of docs/scaling.md, checked without a
cluster (the strict Kubernetes schema check of every manifest is in test_deploy_files.py)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import yaml

from cli import build_parser
from training.stream.config import parse_stream_config

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = {d["kind"]: d for d in yaml.safe_load_all((ROOT / "deploy/k8s/stream-train-job.yaml").read_text())}


def torchrun_options(command: list[str]) -> dict[str, str]:
    assert command[0] == "torchrun"
    module_at = command.index("-m")
    return dict(arg[2:].split("=", 1) for arg in command[1:module_at])


def test_every_pod_runs_one_torchrun_agent_of_the_same_job():
    job, service = DOCUMENTS["Job"], DOCUMENTS["Service"]
    spec, pod = job["spec"], job["spec"]["template"]["spec"]
    command = pod["containers"][0]["command"]
    options = torchrun_options(command)
    # as many agents as pods, all started at once (the rendezvous waits for --nnodes agents)
    assert int(options["nnodes"]) == spec["completions"] == spec["parallelism"]
    assert spec["completionMode"] == "Indexed" and pod["restartPolicy"] == "Never"
    # the endpoint is pod 0's stable name: <job>-0.<subdomain>, a headless Service selecting the job's pods
    host, port = options["rdzv-endpoint"].split(":")
    assert host == f"{job['metadata']['name']}-0.{service['metadata']['name']}"
    assert pod["subdomain"] == service["metadata"]["name"] and service["spec"]["clusterIP"] == "None"
    assert service["spec"]["selector"] == {"batch.kubernetes.io/job-name": job["metadata"]["name"]}
    assert int(port) == service["spec"]["ports"][0]["port"] and options["rdzv-backend"] == "c10d"
    # what each agent starts is `ctr stream train ...` (python -m training.stream = ctr stream)
    module_args = command[command.index("-m") + 2 :]
    args = build_parser().parse_args(["stream", *module_args])
    assert args.command == "stream train" and args.config == Path("/etc/ctr/stream.toml")


def test_the_job_file_in_the_configmap_passes_its_own_validation():
    text = DOCUMENTS["ConfigMap"]["data"]["stream.toml"]
    config = parse_stream_config(tomllib.loads(text), Path("/etc/ctr"))
    assert config.dataset == Path("/srv/datasets/criteo_synthetic.toml")  # the train image's copy of datasets/
    assert (ROOT / "datasets" / config.dataset.name).is_file()
    container = DOCUMENTS["Job"]["spec"]["template"]["spec"]["containers"][0]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert str(config.data).startswith(mounts["shards"]) and str(config.out).startswith(mounts["models"])
    assert config.publish is not None and config.publish.cluster and config.training.sparse is True
