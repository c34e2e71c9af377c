"""Runs llama.cpp's convert_hf_to_gguf.py under Debian's torch 1.13.

Usage: convert.py LLAMA_CPP_SRC ARGS...  (ARGS go to convert_hf_to_gguf.py)

The converter names torch.float8_e4m3fn and float8_e5m2 in a table of safetensors dtypes at import; torch 1.13 has no float8
types. Our checkpoints hold no F8 tensors, so a stand-in attribute lets the import succeed; an F8 tensor would
still fail, with torch's error, rather than convert wrongly.
"""
import os
import runpy
import sys

import torch

for name in ("float8_e4m3fn", "float8_e5m2"):
    if not hasattr(torch, name):
        setattr(torch, name, None)  # only the F8 rows of the converter's dtype table refer to them

source = sys.argv[1]
sys.argv = [os.path.join(source, "convert_hf_to_gguf.py")] + sys.argv[2:]
runpy.run_path(sys.argv[0], run_name="__main__")
