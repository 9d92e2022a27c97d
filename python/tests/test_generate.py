"""Generation from Python: a generating model's outputs trimmed to its longest row, settings
given at compile time (generate=), token for token against the reference decoder."""
import os

import numpy as np
import pytest

import loom
from conftest import SRC

DIR = os.path.join(SRC, "tests", "fixtures", "generate")
LM = os.path.join(DIR, "lm.loom")


@pytest.mark.parametrize("kind", ["gru", "lstm"])
def test_greedy_matches_the_reference_decoder(kind):
    want = np.load(os.path.join(DIR, f"{kind}.expected.npz"))
    m = loom.Model.from_file(LM, model=f"{kind}_generate",
                             generate={"end_token": int(want["end_token"])})
    m.load_weights(os.path.join(DIR, f"{kind}.weights.npz"))
    out = m(prompt=want["prompt"])
    np.testing.assert_array_equal(out["ids"], want["ids"])
    np.testing.assert_array_equal(out["lengths"], want["lengths"])
    assert out["ids"].shape[1] == want["lengths"].max()


def test_sampling_is_reproducible_and_seeded():
    m = loom.Model.from_file(LM, model="gru_generate",
                             generate={"sample": True, "temperature": 0.9, "top_k": 6})
    m.load_weights(os.path.join(DIR, "gru.weights.npz"))
    assert "seed" in [s.name for s in m.inputs]
    prompt = np.array([[2, 3], [4, 5]], np.int32)
    a = m(prompt=prompt, seed=np.int32(3))["ids"]
    b = m(prompt=prompt, seed=np.int32(3))["ids"]
    c = m(prompt=prompt, seed=np.int32(4))["ids"]
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_bad_settings_are_errors():
    with pytest.raises(loom.Error, match="top_p must be in"):
        loom.Model.from_file(LM, model="gru_generate", generate={"top_p": 2.0})
    with pytest.raises(ValueError, match="unknown setting 'num_beams'"):
        loom.Model.from_file(LM, model="gru_generate", generate={"num_beams": 2})
