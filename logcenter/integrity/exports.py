"""The digest blocks covering an export's rows: the export's optional last section.

`trailer_parts(kind, ids)` yields the JSON text of an object, piece by piece (a block at a
time: an export may cover many):

    {"key_id": …, "public_key": …, "canonical_form": …, "unsealed_rows": N,
     "blocks": [{<the block's header>, "digest": …, "signature": …, "manifest": base64}, …]}

With the public key alone, a reader checks each block (its header hashes to its digest,
the signature verifies, the manifest hashes to manifest_sha256, each block names the
previous one's digest where consecutive) and each exported row (its leaf, the SHA-256 of
its canonical JSON, is in a manifest). Rows stored after the last block are not covered
yet (`unsealed_rows`). Masked or left-out fields change a row's leaf: such rows cannot be
checked from the file (export them as a role that sees every field).
"""

import base64
import json
from bisect import bisect_right

from logcenter.integrity import keys
from logcenter.integrity.models import DigestBlock
from logcenter.integrity.sealing import block_header

CANONICAL_FORM = ("SHA-256 of json.dumps(row, sort_keys=True, separators=(',', ':'), "
                  "ensure_ascii=False) over every field but id; see docs/integrity.md")


def covering_blocks(kind, ids):
    """(sorted block seqs holding any of `ids`, how many ids no block holds)."""
    bounds = list(DigestBlock.objects.filter(kind=kind.slug).order_by("first_id")
                  .values_list("first_id", "last_id", "seq"))
    firsts = [first for first, _, _ in bounds]
    seqs, uncovered = set(), 0
    for row_id in ids:
        at = bisect_right(firsts, row_id) - 1
        if at >= 0 and row_id <= bounds[at][1]:
            seqs.add(bounds[at][2])
        else:
            uncovered += 1
    return sorted(seqs), uncovered


def block_document(block):
    return {**block_header(block), "digest": block.digest, "signature": block.signature,
            "manifest": base64.b64encode(bytes(block.manifest)).decode()}


def trailer_parts(kind, ids):
    seqs, uncovered = covering_blocks(kind, ids)
    signer = keys.signing_key()
    head = {"key_id": signer.key_id, "public_key": signer.public_raw.hex(),
            "canonical_form": CANONICAL_FORM, "unsealed_rows": uncovered}
    yield json.dumps(head)[:-1] + ', "blocks": ['
    for n, seq in enumerate(seqs):
        block = DigestBlock.objects.get(kind=kind.slug, seq=seq)
        yield ("," if n else "") + json.dumps(block_document(block))
    yield "]}"
