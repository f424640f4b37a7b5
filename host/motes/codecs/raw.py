"""Codec 0, 'raw': the values' bytes as they are, little-endian for wider types.

Accepts any fixed-size numeric dtype (int8/uint8/int16/int32/float32, ...).
The payload is exactly ``count * itemsize`` bytes; there is no table.
"""

import numpy as np

from . import Codec, CodecError


class RawCodec(Codec):
    id = 0
    name = 'raw'

    def supports(self, dtype) -> bool:
        return np.dtype(dtype).kind in 'iuf'

    def encode(self, values: np.ndarray) -> bytes:
        array = np.asarray(values)
        if not self.supports(array.dtype):
            raise CodecError(f'raw codec cannot store dtype {array.dtype}')
        return array.reshape(-1).astype(array.dtype.newbyteorder('<'), copy=False).tobytes()

    def decode(self, payload: bytes, count: int, dtype=np.int8) -> np.ndarray:
        count = self._check_decode_args(count, dtype)
        dtype = np.dtype(dtype)
        expected = count * dtype.itemsize
        if len(payload) != expected:
            raise CodecError(f'raw payload has {len(payload)} bytes, expected {count} x '
                             f'{dtype.itemsize} = {expected}')
        stored = np.frombuffer(bytes(payload), dtype=dtype.newbyteorder('<'))
        return stored.astype(dtype.newbyteorder('='))

    def table_bytes(self, payload: bytes) -> int:
        return 0
