// common.cl: shared types, defines and the periodic minimum image for every mld kernel.
//
// Mirrors: Box.displacement(from:to:) and Box.wrap(_:) in Sources/MLD/Core/Box.swift.
//
// Precision (chosen by defines the host passes when it builds the program):
//   MLD_DOUBLE      real = double. Positions are double4 {x, y, z, 0}, wrapped into [0, L) on
//                   the host, in Å. Needs cl_khr_fp64.
//   (not defined)   real = float. Positions are float8 {hi.x, hi.y, hi.z, 0, lo.x, lo.y, lo.z, 0}
//                   with x = hi + lo (hi = (float)x, lo = (float)(x - hi), split on the host in
//                   double after wrapping into [0, L)). A displacement is formed as
//                   (hi_b - hi_a - s L_hi) - s L_lo + (lo_b - lo_a): the hi difference of two
//                   nearby atoms is exact, so the displacement carries a relative error of one
//                   float rounding (6e-8) whatever the box size, instead of ulp(L).
//   MLD_ACC_DOUBLE  acc = double: the loss, g = w + W phi and the force sums are accumulated in
//                   double (set whenever the device has fp64, also in single precision).
//   (not defined)   acc = float with Kahan-compensated sums (devices without fp64).
// Both position layouts are 32 bytes per atom: one 32-byte sector per gathered neighbour on a GPU.
// The box is passed the same way: pos_t {L.x, L.y, L.z, 0[, lo parts]} in Å.

#ifdef MLD_DOUBLE
#pragma OPENCL EXTENSION cl_khr_fp64 : enable
typedef double real;
typedef double4 real4;
typedef double4 pos_t;
#define POS_HI(p) (p)
#else
typedef float real;
typedef float4 real4;
typedef float8 pos_t;
#define POS_HI(p) ((p).s0123)
#endif

#ifdef MLD_ACC_DOUBLE
#pragma OPENCL EXTENSION cl_khr_fp64 : enable
typedef double acc;
typedef double4 acc4;
#define convert_acc4 convert_double4
#else
typedef float acc;
typedef float4 acc4;
#define convert_acc4 convert_float4
#endif

// Per-neighbour transcendental functions (the radial basis and cutoff; the angular sums'
// exponentials, cutoffs and non-integer powers) are evaluated in `fn`: float with MLD_FN_FLOAT
// (the host sets it in single precision on GPUs, where fp64 may run at 1/32 to 1/64 of the float
// rate), else in `acc`. Their sums stay in `acc` either way.
#ifdef MLD_FN_FLOAT
typedef float fn;
#define FN_PI M_PI_F
#elif defined(MLD_ACC_DOUBLE)
typedef double fn;
#define FN_PI M_PI
#else
typedef float fn;
#define FN_PI M_PI_F
#endif

// The loss parameters w and W: __constant (broadcast to a warp) when they fit the device's
// CL_DEVICE_MAX_CONSTANT_BUFFER_SIZE, else __global (MLD_W_GLOBAL, set by the host).
#ifdef MLD_W_GLOBAL
#define W_SPACE __global const
#else
#define W_SPACE __constant
#endif

// Accurate accumulation: a plain double sum of float-sized terms when acc is double, a
// Kahan-compensated float sum otherwise.
typedef struct { acc sum; acc c; } ksum;
static inline void kadd(ksum *s, acc x) {
#ifdef MLD_ACC_DOUBLE
    s->sum += x;
#else
    acc y = x - s->c;
    acc t = s->sum + y;
    s->c = (t - s->sum) - y;
    s->sum = t;
#endif
}

// F += x for acc4 force sums: plain in double, Kahan-compensated (C the compensation) in float.
#ifdef MLD_ACC_DOUBLE
#define ACC4_ADD(F, C, x) ((F) += (x))
#else
#define ACC4_ADD(F, C, x) do { acc4 y_ = (x) - (C); acc4 t_ = (F) + y_; (C) = (t_ - (F)) - y_; (F) = t_; } while (0)
#endif

// Invariants of the distance block (the first MLD_PD of the MLD_P of an agent; the angular
// blocks of angular.cl follow it). The host always sets it; the default keeps a program with
// the distance block alone valid.
#ifndef MLD_PD
#define MLD_PD MLD_P
#endif

// Minimum-image displacement b - a in Å (w component 0).
static inline real4 min_image(pos_t a, pos_t b, pos_t box) {
#ifdef MLD_DOUBLE
    real4 d = b - a;
    d.xyz -= box.xyz * rint(d.xyz / box.xyz);
    d.w = 0;
    return d;
#else
    float4 dh = b.s0123 - a.s0123;
    float4 dl = b.s4567 - a.s4567;
    float4 s = (float4)(rint(dh.xyz / box.s012), 0.0f);
    float4 d = (dh - s * box.s0123) - s * box.s4567 + dl;
    d.w = 0.0f;
    return d;
#endif
}

// Minimum-image displacement b - a in `acc` precision. In single precision on a device with
// fp64 the hi/lo parts are combined in double (x = hi + lo holds 48 bits of the wrapped double
// position), so the few displacements that feed the nearest invariants and their forces are
// as accurate as in double precision; otherwise it is min_image().
static inline acc4 min_image_acc(pos_t a, pos_t b, pos_t box) {
#if defined(MLD_DOUBLE) || !defined(MLD_ACC_DOUBLE)
    return convert_acc4(min_image(a, b, box));
#else
    float4 dh = b.s0123 - a.s0123;
    double4 s = (double4)(convert_double3(rint(dh.xyz / box.s012)), 0.0);
    double4 d = (convert_double4(b.s0123) - convert_double4(a.s0123))
              + (convert_double4(b.s4567) - convert_double4(a.s4567))
              - s * (convert_double4(box.s0123) + convert_double4(box.s4567));
    d.w = 0.0;
    return d;
#endif
}

// Per-agent arrays (neighbour lists, invariants, selected neighbours): entry s of the agent of
// work-item i, with `stride` entries per agent. Slot-major by default (GPUs: the work-items of
// a warp read consecutive words); agent-major with MLD_AGENT_MAJOR (CPU devices such as PoCL,
// where one work-item at a time walks its own entries).
// The index is 64-bit: capacity x N passes 2^31 at 10^7 atoms.
#ifdef MLD_AGENT_MAJOR
#define SLOT(s, i, n, stride) ((long)(i) * (long)(stride) + (long)(s))
#else
#define SLOT(s, i, n, stride) ((long)(s) * (long)(n) + (long)(i))
#endif

// Integer cell coordinate of a wrapped position along each axis, clamped into [0, nc).
static inline int4 cell_coord(pos_t p, real4 inv_cell_width, int4 nc) {
    real4 x = POS_HI(p);
    int4 c = (int4)((int)floor(x.x * inv_cell_width.x), (int)floor(x.y * inv_cell_width.y),
                    (int)floor(x.z * inv_cell_width.z), 0);
    return clamp(c, (int4)(0), nc - (int4)(1));
}

static inline int cell_index(int4 c, int4 nc) { return (c.z * nc.y + c.y) * nc.x + c.x; }

// Status words shared by the neighbour, invariant and gradient kernels (int buffer).
#define ST_MAX_DISP2   0   // bits of the largest squared displacement since the last build (float, >= 0)
#define ST_MAX_COUNT   1   // the largest neighbour count of the last build (capacity check)
#define ST_REBUILT     2   // 1 when this step rebuilt the list
#define ST_SHORT_AGENT 3   // smallest agent index with too few neighbours of a species (INT_MAX: none)
#define ST_NEED_R2     4   // bits of the squared list radius some agent needs (float; 0: none)
#define ST_WORDS       8

// Whether this step rebuilds the neighbour list: some atom moved more than half the skin, or
// the displacement is not a number (a reference never written must force a rebuild, not block it).
static inline bool needs_rebuild(__global const int *status, float half_skin2) {
    return !(as_float(status[ST_MAX_DISP2]) <= half_skin2);
}
