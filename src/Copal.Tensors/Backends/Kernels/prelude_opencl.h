/* Copal kernel prelude for OpenCL C 1.2.
 * The kernels (*.cl) are written against the names defined here and nothing else that is OpenCL-specific, so
 * that NVRTC compiles the very same text with prelude_cuda.h. Both preludes must define the same set of names;
 * a test checks that. */
#define COPAL_OPENCL 1

/* Qualifiers. */
#define KERNEL __kernel                  /* an entry point */
#define DEVICE_FN static inline          /* a helper called from kernels */
#define GLOBAL __global                  /* pointer into device memory */
#define LOCAL __local                    /* pointer into work-group shared memory (helper parameters) */
#define LOCAL_ARRAY __local              /* declares a work-group shared array at kernel scope */

/* Thread and group indices, as int: every launch Copal makes fits in 2^31 threads. */
#define GLOBAL_ID(d) ((int)get_global_id(d))
#define LOCAL_ID(d) ((int)get_local_id(d))
#define GROUP_ID(d) ((int)get_group_id(d))
#define LOCAL_SIZE(d) ((int)get_local_size(d))
#define NUM_GROUPS(d) ((int)get_num_groups(d))
#define BARRIER() barrier(CLK_LOCAL_MEM_FENCE)

/* Types. idx_t is a 64-bit element index, for products that can pass 2^31. */
typedef long idx_t;
typedef ushort bf16_t;
#define half_t half                      /* storage only: no fp16 arithmetic is used, loads convert to float */

/* Loads of stored weight dtypes, converted to float. */
#define LOAD_HALF(p, i) vload_half((size_t)(i), (p))
#define LOAD_BF16(p, i) as_float(((uint)(p)[i]) << 16)

/* Math on float. */
#define EXP(x) exp(x)
#define SQRT(x) sqrt(x)
#define FMAX(a, b) fmax((a), (b))
#define IMIN(a, b) min((a), (b))

/* Bits: leading zeros of a 32-bit unsigned value (32 for 0). */
#define CLZ32(x) clz((uint)(x))
