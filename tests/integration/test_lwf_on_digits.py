"""LwF must forget less than Finetuning on the embedded digits (a fixed seed, CPU, about 3 s)."""

import pytest

from retain import run


@pytest.mark.parametrize("scenario", ["til", "dil"])
def test_lwf_forgets_less_than_finetuning(scenario):
    summaries = {
        name: run({"seed": 0, "scenario": scenario, "algorithm": {"name": name}}, write=False, progress=False).summary
        for name in ("finetuning", "lwf")
    }
    assert summaries["lwf"]["forgetting"] < summaries["finetuning"]["forgetting"]
    assert summaries["lwf"]["final_average_accuracy"] > summaries["finetuning"]["final_average_accuracy"]
