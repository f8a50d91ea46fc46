"""Exact and near-duplicate clusters, and the survivor of each cluster: the reduce step.

Input: one row per record with ``record_id``, ``norm_sha256`` and ``minhash`` (see
``auditor.stages.minhash``), optionally ``text_null`` and the survivor-preference columns
``licence_rank`` (lower = more permissive), ``evidence_rank`` (lower = better evidence) and
``crawl_date``. Everything is columnar (numpy and Arrow): no Python object per record.

1. Exact duplicates: equal ``norm_sha256`` (grouped by their first 128 bits, then compared in
   full). Rows with ``text_null`` or without a digest never cluster.
2. Near duplicates: one representative per exact group goes through MinHash LSH: each band of
   ``rows`` signature values is hashed to a 64-bit key; rows sharing a key in any band are candidate
   pairs (every pair in a bucket of up to ``_FULL_PAIRS_MAX`` rows; the star from the first row plus
   the chain of neighbours in larger buckets). With ``params.verify`` a candidate pair is kept only
   if its signature Jaccard estimate (equal values / num_perm, as datasketch's ``MinHash.jaccard``)
   is >= ``params.threshold``, so a band collision below the threshold merges nothing. Empty
   signatures (empty text) take no part. With ``fetch_texts`` (and ``verify``), a pair whose estimate
   lies within ``params.exact_band_used()`` of the threshold (3 standard deviations of the estimate
   by default) is decided by the exact Jaccard of the two shingle sets instead: the texts are fetched
   again (each row once, in batches of at most ``FETCH_BATCH`` rows, ascending; a ``fetch_texts``
   with an ``announce(rows)`` method is first told every row it will be asked for, so that it may read
   ahead, as ``auditor.textfetch.ShardTextFetcher`` does in worker processes), checked against
   their ``norm_sha256``, and reduced at once to sorted 64-bit shingle hashes
   (``shingle_hash_sets``), so memory holds one batch of text and 8 bytes per distinct shingle of
   the fetched rows. Pairs with a record of an earlier manifest, or a text fetched as None, keep the
   estimate's verdict.
3. Clusters are the connected components of the exact and near pairs (scipy's union-find-style
   ``connected_components`` on a sparse graph). A cluster's id is the smallest row index (in input
   order) among its records.
4. The survivor is the first record of the cluster in the survivor order: by default
   ``licence_rank, evidence_rank, crawl_date, record_id``, ascending, nulls last; an absent
   preference column counts as all equal; ``record_id`` always ends the order. Records of earlier
   manifests (``against``) come before all new records, so an already audited copy always survives.

Output columns, in input row order (see ``OUTPUT_SCHEMA``): ``dup_cluster`` (null if unique),
``dup_of`` (the survivor's record_id; null for the survivor and uniques; ``<label>:<record_id>`` for a
record of an earlier manifest labelled ``label``; labels have no ``/`` or ``:`` and source names no
``:``, so the two kinds of id cannot be confused), ``dup_kind`` (``exact`` when the record's
``norm_sha256`` equals its survivor's, else ``near``; null when ``dup_of`` is null), ``dup_reason``
(the first survivor-order key on which the survivor beat this record, or ``prior_manifest``) and
``dup_jaccard`` (signature Jaccard estimate between the record and its survivor). The result's
schema metadata ``auditor.dedup`` holds the pair counts (candidates, exact checks), which
``summarise_duplicates`` reports.

``choose_survivors`` re-chooses the survivors of existing clusters under another survivor order
without re-clustering (re-deciding a manifest under another policy never changes membership).

Signatures come from the table's ``minhash`` column or, so that a large corpus's signatures need not
all be in memory, as ``BandedSignatures``: every record's band keys and a loader that reads the full
signatures of the rows of candidate and exact pairs only (the scan builds them shard by shard).

``find_duplicates`` holds the records table in memory and returns a row for every record. Under it,
``cluster_records`` reads the records from a ``RecordSource`` (slices in order, and chosen columns of
chosen rows) and returns only the records that are in a cluster (``CLUSTERED_SCHEMA``), so that the
scan never holds a column of every record: exact grouping and each LSH band sort hash partitions of
the keys (``auditor.dedup.partition``; spilled to temporary files above ``PARTITION_ROWS`` records),
and the digests, survivor keys and signatures are read for the records of clusters only. What grows
with the corpus is one byte per record (which records take part in banding) and the duplicates.

Modules: ``clusters`` (``find_duplicates``, ``cluster_records``, LSH candidate pairs, components,
``BandedSignatures``), ``records`` (``RecordSource``, ``TableRecords``), ``partition`` (hash
partitions of keys), ``exact`` (signature
and exact Jaccard verification of candidate pairs, fetching texts), ``survivors`` (survivor order,
the ``dup_*`` columns, ``choose_survivors``), ``signatures`` (``signatures.parquet``, compatibility
of sketch parameters, ``summarise_duplicates``) and ``_common`` (shared names). Import from
``auditor.dedup`` (to change ``FETCH_BATCH``, set it on ``auditor.dedup.exact``, which reads it).
"""

from __future__ import annotations

from auditor.dedup._common import (
    CLUSTERED_SCHEMA,
    DEDUP_METADATA_KEY,
    DEFAULT_SURVIVOR_ORDER,
    DUP_COLUMNS,
    OPTIONAL_PREFERENCE_COLUMNS,
    OUTPUT_SCHEMA,
    PRIOR_REASON,
    REQUIRED_COLUMNS,
    SIGNATURE_COLUMNS,
    SIGNATURES_METADATA_KEY,
    FetchTexts,
)
from auditor.dedup.clusters import (
    BandedSignatures,
    band_keys,
    candidate_pairs,
    cluster_records,
    dense_duplicates,
    dup_columns,
    find_duplicates,
    near_pairs,
)
from auditor.dedup.clusters import _bucket_pairs as _bucket_pairs  # re-exported for the tests
from auditor.dedup.exact import FETCH_BATCH, pair_jaccard, signature_jaccard
from auditor.dedup.records import RecordSource, TableRecords
from auditor.dedup.signatures import read_signatures, summarise_duplicates, write_signatures
from auditor.dedup.survivors import choose_survivors

__all__ = [
    "BandedSignatures",
    "CLUSTERED_SCHEMA",
    "DEDUP_METADATA_KEY",
    "DEFAULT_SURVIVOR_ORDER",
    "DUP_COLUMNS",
    "FETCH_BATCH",
    "FetchTexts",
    "OPTIONAL_PREFERENCE_COLUMNS",
    "OUTPUT_SCHEMA",
    "PRIOR_REASON",
    "REQUIRED_COLUMNS",
    "RecordSource",
    "SIGNATURES_METADATA_KEY",
    "SIGNATURE_COLUMNS",
    "TableRecords",
    "band_keys",
    "candidate_pairs",
    "choose_survivors",
    "cluster_records",
    "dense_duplicates",
    "dup_columns",
    "find_duplicates",
    "near_pairs",
    "pair_jaccard",
    "read_signatures",
    "signature_jaccard",
    "summarise_duplicates",
    "write_signatures",
]
