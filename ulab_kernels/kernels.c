/*
 * motes int8 kernels (see motes_kernels.h): the arithmetic of TensorFlow Lite
 * Micro's reference kernels, bit for bit, in plain C99.
 *
 * No division (native modules do not link libgcc): the few places that need
 * a quotient (average pooling, group count) use udiv32() (support_s8.c). Accumulators
 * are uint32_t so that int32 wrap-around is defined behaviour; TFLM's int32
 * sums wrap the same way (and the host's reference wraps to int32 before
 * requantizing).
 *
 * One compilation unit, one file per kernel (as CMSIS-NN's Source/ folders):
 * this file only includes the parts, in an order where each part follows
 * what it uses. One unit, so that the compiler still sees every static
 * helper next to its callers (it inlines and shares them as before, and the
 * Thumb-1 dot8_4 can branch into rq_fast's loop), and so that every build
 * (natmod Makefile, micropython.mk, micropython.cmake, fuzz, m0/emu.py)
 * compiles kernels.c alone. The parts are never compiled on their own.
 *
 *   requantize.h          rounding, mk_requantize, the fast form's constants
 *   thumb1_s8.c           ARMv6-M assembly: rq_fast, copy_words, dot8_4
 *   matmul_s8.c           rows of weights against a vector (FC, CONV_2D)
 *   support_s8.c          division, counts, params checks, tap ranges
 *   conv_s8.c             CONV_2D
 *   fully_connected_s8.c  FULLY_CONNECTED
 *   depthwise_conv_s8.c   DEPTHWISE_CONV_2D (with its own ARMv6-M routine)
 *   pool_s8.c             AVERAGE_POOL_2D, MAX_POOL_2D
 *   elementwise_s8.c      ADD, SUB, MUL
 *   activations_s8.c      SOFTMAX, LOGISTIC, TANH
 *   mean_s8.c             MEAN
 *
 * MK_CORE and MK_MORE (motes_kernels.h) choose the parts: the native module
 * build compiles this unit twice, one .mpy for each.
 */
#include "motes_kernels.h"

#include "requantize.h"
#if MK_CORE
#include "thumb1_s8.c"
#include "matmul_s8.c"
#endif
#include "support_s8.c"
#if MK_CORE
#include "conv_s8.c"
#include "fully_connected_s8.c"
#include "depthwise_conv_s8.c"
#include "pool_s8.c"
#endif
#if MK_MORE
#include "elementwise_s8.c"
#endif
#include "activations_s8.c"     /* (SOFTMAX in the core, LOGISTIC and TANH in the more) */
#if MK_MORE
#include "mean_s8.c"
#endif
