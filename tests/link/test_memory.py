"""Out of memory ends with one line saying how to give linkage more; bad sizes are named."""

from __future__ import annotations

import pyarrow as pa
import pytest

from totalplace.link import pipeline
from totalplace.link.model import LinkageOptions
from totalplace.link.pipeline import LinkMemoryError, run_linkage, spark_memory


def test_out_of_memory_is_one_clear_line(tmp_path, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("py4j...: java.lang.OutOfMemoryError: Java heap space\n\tat ...")

    monkeypatch.setattr(pipeline, "_run", boom)
    with pytest.raises(LinkMemoryError) as e:
        run_linkage(pa.table({"unique_id": ["a"]}), LinkageOptions(), work_dir=tmp_path)
    text = str(e.value)
    assert "\n" not in text and "ran out of memory" in text and "--memory" in text


def test_spark_memory_sizes():
    assert spark_memory("8GB") == "8g" and spark_memory("512m") == "512m"
    assert spark_memory(None)[-1] == "g"
    with pytest.raises(ValueError, match="memory must look like 8GB"):
        spark_memory("lots")
