"""The .mote file format on the host: one home for it (docs/FORMAT.md is the specification).

* container.py -- header, CRC and section table; FormatError, the bounds-checked Reader
* model.py     -- TensorInfo, PackedConst, MoteModel and the format's small tables
* tables.py    -- the tensor table, the graph and each layer's constant headers
* derived.py   -- codecs 5 and 6 (scales, biaspred): plugins taking a layer context
* consts.py    -- a layer's constants packed with the smallest codec, and decoded
* verify.py    -- the checks of a whole graph (the device's verify.py)
* file.py      -- to_bytes, from_bytes, load
* metajson.py  -- the metadata as a board's json.loads reads it
* gen.py       -- docs/FORMAT.md's op table and the device's optable.py ('make format-doc')

The interleaved layout and its rules are motes.compiler.interleave's; varints, motes.varint's.
"""
from ..varint import put_svarint, put_uvarint
from .consts import decode_consts, decode_layer_consts, pack_consts, without_derived
from .container import (HEADER, MAGIC, MAJOR, MINOR, SEC_GRAPH, SEC_LAYER, SEC_META, SEC_TENSORS, SECTION_NAMES,
                        FormatError, Reader, iter_sections, read_header, section_table, write_container)
from .derived import (BIASPRED_WRITE_OPS, DERIVED_CODECS, DerivedCodec, LayerContext, channel_sums,
                      predict_bias)
from .file import from_bytes, load, to_bytes, written_minor
from .gen import (GENERATED_BEGIN, GENERATED_END, device_kernel_words, device_names, device_names_block,
                  device_op_names_source, device_op_table_source, op_table_markdown, refresh_op_table)
from .metajson import board_json
from .model import (CHAIN, CODEC_BIASPRED, CODEC_SCALES, DERIVED, DERIVED_OPS, DTYPE_SIZES, DTYPES, IMPLIED_SHAPE,
                    INTERLEAVED, KIND_LETTERS, PARAM_LIMITS, MoteModel, PackedConst, TensorInfo, channels_of,
                    param_kind)
from .tables import const_header, const_names, param_names
from .verify import ALIAS_OPS, CONST_INPUT_OPS, ONE_TO_ONE_OPS, verify

# every name above (motes.format re-exports them), not the submodules
__all__ = sorted(n for n, v in dict(globals()).items()
                 if not n.startswith("_") and type(v).__name__ != "module" and n != "annotations")
