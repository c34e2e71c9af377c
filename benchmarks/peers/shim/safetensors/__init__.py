"""A stand-in for the `safetensors` package, enough for llama.cpp's convert_hf_to_gguf.py.

Debian ships no python3-safetensors. The converter only calls safe_open(path, framework="pt").keys() and
.get_slice(name) (get_dtype, get_shape, [:]), so this reads the header with json and the data with a numpy memmap.
It is put on PYTHONPATH by side_by_side.py; nothing at Copal's run time uses it.
"""
import json
import struct

import numpy as np
import torch

_NUMPY = {"F32": np.float32, "F16": np.float16, "BF16": np.int16, "I64": np.int64, "I32": np.int32, "U8": np.uint8}


class _Slice:
    def __init__(self, data, info):
        self._data, self._info = data, info

    def get_dtype(self):
        return self._info["dtype"]

    def get_shape(self):
        return list(self._info["shape"])

    def __getitem__(self, index):
        a, b = self._info["data_offsets"]
        raw = np.asarray(self._data[a:b]).view(_NUMPY[self.get_dtype()]).reshape(self.get_shape())
        t = torch.from_numpy(raw.copy())
        if self.get_dtype() == "BF16":
            t = t.view(torch.bfloat16)
        return t[index]


class safe_open:  # noqa: N801 (the package's own name)
    def __init__(self, path, framework="pt", device="cpu"):
        if framework != "pt" or device != "cpu":
            raise ValueError(f"stand-in safetensors reads framework='pt' on the cpu only, not {framework!r} on {device!r}")
        with open(path, "rb") as f:
            n = struct.unpack("<Q", f.read(8))[0]
            header = json.loads(f.read(n))
        self._meta = header.pop("__metadata__", None)
        self._header = header
        self._data = np.memmap(path, dtype=np.uint8, mode="r", offset=8 + n)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def metadata(self):
        return self._meta

    def keys(self):
        return list(self._header)

    def get_slice(self, name):
        return _Slice(self._data, self._header[name])

    def get_tensor(self, name):
        return self.get_slice(name)[:]
