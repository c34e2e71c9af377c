/* Copal kernel prelude for CUDA (NVRTC).
 * Maps the names the kernels (*.cl, OpenCL C 1.2 style) are written against onto CUDA C++, so NVRTC compiles
 * the very same kernel text as OpenCL does. Needs no CUDA header: NVRTC provides the built-in variables and
 * math functions. Both preludes must define the same set of names; a test checks that. */
#define COPAL_CUDA 1

/* Qualifiers. extern "C" keeps entry-point names unmangled for cuModuleGetFunction. */
#define KERNEL extern "C" __global__
#define DEVICE_FN static __device__ __forceinline__
#define GLOBAL
#define LOCAL
#define LOCAL_ARRAY __shared__

/* Thread and group indices, as int. */
static __device__ __forceinline__ int copal_tid(int d) { return (int)(d == 0 ? threadIdx.x : d == 1 ? threadIdx.y : threadIdx.z); }
static __device__ __forceinline__ int copal_bid(int d) { return (int)(d == 0 ? blockIdx.x : d == 1 ? blockIdx.y : blockIdx.z); }
static __device__ __forceinline__ int copal_bdim(int d) { return (int)(d == 0 ? blockDim.x : d == 1 ? blockDim.y : blockDim.z); }
static __device__ __forceinline__ int copal_gdim(int d) { return (int)(d == 0 ? gridDim.x : d == 1 ? gridDim.y : gridDim.z); }
#define GLOBAL_ID(d) (copal_bid(d) * copal_bdim(d) + copal_tid(d))
#define LOCAL_ID(d) copal_tid(d)
#define GROUP_ID(d) copal_bid(d)
#define LOCAL_SIZE(d) copal_bdim(d)
#define NUM_GROUPS(d) copal_gdim(d)
#define BARRIER() __syncthreads()

/* Types: OpenCL's names for the unsigned types, a 64-bit index, 16-bit storage for F16/BF16 weights. */
typedef long long idx_t;
typedef unsigned int uint;
typedef unsigned short ushort;
typedef unsigned char uchar;
typedef unsigned short bf16_t;
#define half_t unsigned short

/* IEEE half to float with the hardware conversion instruction (no cuda_fp16.h needed). */
static __device__ __forceinline__ float copal_half_to_float(unsigned short h)
{
    float f;
    asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h));
    return f;
}
#define LOAD_HALF(p, i) copal_half_to_float((p)[i])
#define LOAD_BF16(p, i) __uint_as_float(((unsigned int)(p)[i]) << 16)

/* Math on float: the single-precision functions, never the double ones. */
#define EXP(x) expf(x)
#define SQRT(x) sqrtf(x)
#define FMAX(a, b) fmaxf((a), (b))
#define IMIN(a, b) min((a), (b))

/* Bits: leading zeros of a 32-bit unsigned value (32 for 0). PTX's clz, since NVRTC without headers does not
 * declare the __clz intrinsic. */
static __device__ __forceinline__ int copal_clz32(unsigned int x)
{
    int r;
    asm("clz.b32 %0, %1;" : "=r"(r) : "r"(x));
    return r;
}
#define CLZ32(x) copal_clz32((unsigned int)(x))
