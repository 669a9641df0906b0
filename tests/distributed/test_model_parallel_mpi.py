"""AlexNet split over 2 MPI ranks the paper's way equals the single-process grouped model."""
import re


def test_split_alexnet_equals_grouped_model(mpirun, python, workers):
    code, out, err, _ = mpirun([python, workers / "alexnet_split.py"], timeout=240)
    assert code == 0, out + err
    for check in ("forward", "gradients", "state_dict"):
        assert sorted(re.findall(rf"OK {check} rank (\d)", out)) == ["0", "1"], out + err
