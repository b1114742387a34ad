// Branch-free math functions as LLVM IR: range reduction with integer bit operations and
// Cody-Waite / Payne-Hanek steps, minimax polynomials (fitted with a Remez exchange in
// mpmath, coefficients rounded to the working precision), selects for special values. Every
// operation is an IRBuilder op or a vectorizable intrinsic, so the same code serves scalars,
// fixed vectors and loops that the loop vectorizer widens.

#include "backends/llvm/vmath.h"

#include <array>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <vector>

#include <llvm/IR/Constants.h>
#include <llvm/IR/DerivedTypes.h>
#include <llvm/IR/GlobalVariable.h>
#include <llvm/IR/Intrinsics.h>
#include <llvm/IR/Module.h>

namespace jx::llvmgen {
namespace {

using llvm::Value;
using Coeffs = llvm::ArrayRef<double>;

// ---------------------------------------------------------------------------------------------
// Polynomial coefficients, lowest degree first. "on [a, b]": the fitted interval; the error is
// the weighted minimax error after rounding the coefficients.

// exp(r) = 1 + r + r^2 P(r), r in [-ln2/2, ln2/2]. Error of r^2 P: 2^-27.8 (f32), 2^-62.9 (f64).
constexpr double kExpF32[] = {0.5, 0.166665211, 0.0416662134, 0.00836872216, 0.00139501109};
constexpr double kExpF64[] = {0.5, 0.16666666666666682, 0.04166666666666672, 0.008333333333317603,
                              0.0013888888888860297, 0.00019841269895266956, 2.4801587371028685e-05,
                              2.7557235784987596e-06, 2.755723520114828e-07, 2.5111762620517233e-08,
                              2.0926470412569177e-09};
// 2^r = 1 + r Q(r), r in [-1/2, 1/2]. Error of r Q: 2^-26.0 (f32), 2^-56.0 (f64).
constexpr double kExp2F32[] = {0.693147182, 0.240226507,   0.0555032901,
                               0.00961800478, 0.00133999332, 0.000154760986};
constexpr double kExp2F64[] = {0.6931471805599453,     0.24022650695910072,    0.055504108664821694,
                               0.009618129107628494,   0.0013333558146391502,  0.00015403530393341903,
                               1.525273385535225e-05,  1.3215486832525031e-06, 1.0178051541070746e-07,
                               7.054888416663156e-09,  4.456627607299774e-10,  2.5741611342039202e-11};
// expm1(r) = r + r^2/2 + r^3 P(r), r in [-ln2/2, ln2/2]. Relative error: 2^-26.0, 2^-59.5.
constexpr double kExpm1F32[] = {0.16666548, 0.0416664071, 0.00836613774, 0.00139403471};
constexpr double kExpm1F64[] = {0.16666666666666674,   0.041666666666666685,  0.008333333333322878,
                                0.0013888888888871334, 0.00019841269883313757, 2.480158735391804e-05,
                                2.7557246794750288e-06, 2.755724729591289e-07, 2.5108200901990718e-08,
                                2.0923273618088705e-09};
// log(1+f) = f - f^2/2 + f^3 P(f), f in [sqrt(1/2)-1, sqrt(2)-1]. Relative error 2^-26.8.
constexpr double kLogF32[] = {0.333333164, -0.250007659, 0.200022668, -0.166259319,
                              0.141820401, -0.131173134, 0.128731161, -0.0787859336};
// log2(1+f) = f L + f^2 Q(f), L = log2(e) as float + kLog2eLoF32, same interval. Error of
// f^2 Q relative to log2(1+f): 2^-26.
constexpr double kLog2eHiF32 = 1.4426950216293335;
constexpr double kLog2eLoF32 = 1.9259629911266175e-08;
constexpr double kLog2F32[] = {-0.721347392, 0.480897993, -0.360694826, 0.288581997, -0.239666119,
                               0.204350844,  -0.190445065, 0.187502563, -0.113000616};
// log(1+f) = 2s + s R, s = f/(2+f), R = z P(z), z = s^2 in [0, 0.02944]. Error of R: 2^-62.8.
constexpr double kLogF64[] = {0.6666666666666666,  0.4000000000000451,  0.2857142856953343,
                              0.22222222590276405, 0.18181779568406814, 0.15386940398040364,
                              0.13253152758243214, 0.1322632308518515};
// pow's log: 2 atanh(s) = 2s + 2s^3/3 + s^3 z W(z), z = s^2 in [0, 0.02944]. Relative error of W
// 2^-53.8.
constexpr double kPowLogF64[] = {0.4,                 0.2857142857142937,  0.22222222221655236,
                                 0.1818181833551788,  0.15384594951120162, 0.13334805224565216,
                                 0.11706224150571651, 0.11723287938480628};

// tanh(x) = x + x^3 P(x^2): x in [0, 0.5625] (f32, relative error 2^-27.4), [0, 0.625] (f64,
// 2^-55.6).
constexpr double kTanhF32[] = {-0.333333164, 0.133325577, -0.0538466536, 0.0210401509,
                               -0.00622039894};
constexpr double kTanhF64[] = {-0.33333333333333176,  0.1333333333329631,     -0.053968253944444586,
                               0.02186948783437784,   -0.008863223964427855,  0.0035920104447138526,
                               -0.0014550574213043142, 0.0005866109559621044, -0.00022911222149654502,
                               7.772242807627667e-05, -1.6336508331773993e-05};
// sinh(x) = x + x^3 P(x^2), x in [0, 2]. Relative error 2^-54.5.
constexpr double kSinhF64[] = {0.16666666666666666,    0.008333333333333333,  0.0001984126984126983,
                               2.755731922398861e-06,  2.5052108385092676e-08, 1.6059043863946978e-10,
                               7.647162401542552e-13,  2.81149866355595e-15,  8.212704920298314e-18,
                               2.0423416939436272e-20};
// sin(r) = r + r^3 S(r^2), cos(r) = 1 - r^2/2 + r^4 C(r^2), r^2 in [0, 0.64] (|r| <= pi/4 plus
// the slack of the reduction). f64: 2^-57; f32 (evaluated in double): 2^-37.
constexpr double kSinF64[] = {-0.16666666666666666,  0.008333333333333323,   -0.00019841269841254638,
                              2.7557319213727743e-06, -2.5052104746927717e-08, 1.6058341468742943e-10,
                              -7.577291326632954e-13};
constexpr double kCosF64[] = {0.041666666666666664,   -0.0013888888888888883, 2.4801587301577967e-05,
                              -2.755731921768706e-07, 2.087675479863775e-09,  -1.147033393529261e-11,
                              4.739621797396264e-14};
constexpr double kSinF32[] = {-0.16666666640907207, 0.008333329191064475, -0.00019839252569058688,
                              2.7174124992725885e-06};
constexpr double kCosF32[] = {0.04166666664128791, -0.0013888884915000963, 2.4799747643958104e-05,
                              -2.722425741438107e-07};
// atan(t) = t + t^3 P(t^2), |t| <= tan(pi/8) + 0.005. Relative error 2^-60.6.
constexpr double kAtanF64[] = {-0.3333333333333333,  0.19999999999998544,  -0.14285714285462975,
                               0.11111111091348756,  -0.09090908219238851, 0.07692283764232033,
                               -0.06666233693206117, 0.05877027624425327,  -0.05218115943723926,
                               0.04501280098732493,  -0.03340025572247955, 0.015101444713333731};
// asin(x) = x + x^3 P(x^2), x in [0, 1/2]. Relative error 2^-59.2.
constexpr double kAsinF64[] = {0.1666666666666669,   0.0749999999998671,   0.04464285716137565,
                               0.03038194327555702,  0.022372200440145512, 0.01735185263088698,
                               0.013978138903688505, 0.011419468334067229, 0.010671621475220562,
                               0.00409536659132457,  0.02080624183207167,  -0.019779776408934444,
                               0.03189713120205301};
// erf(x) = x + x R(x^2), x in [0, 0.84375], R(0) = 2/sqrt(pi) - 1 + kErfC0Lo. Relative error
// 2^-75 before rounding the coefficients.
constexpr double kErfC0Lo = -1.2420116002463032e-17;
constexpr double kErfF64[] = {0.1283791670955126,     -0.37612638903183754,   0.11283791670955126,
                              -0.02686617064513121,   0.00522397762544144,    -0.0008548327023367219,
                              0.00012055332975722517, -1.4925650059199507e-05, 1.646210406422002e-06,
                              -1.636559422343365e-07, 1.480290393466797e-08,  -1.2239807007764926e-09,
                              9.025283031121956e-11,  -4.823407607583133e-12};
// float erf: erf(x) = x + x R(x^2) for x in [0, 0.875] (relative error 2^-30); beyond,
// erf = 1 - exp(G(x - 0.875)), G ~ log(erfc) on [0.875, 3.93] (error of erfc 2^-26.8 absolute).
constexpr double kErfF32[] = {0.128379166, -0.376126349, 0.112837151, -0.0268605091, 0.00520385941,
                              -0.000817564141, 8.51311124e-05};
constexpr double kErfcLogF32[] = {-1.5328244,     -2.43021965,  -0.826541483, -0.0468983576,
                                  0.0113344379,   -0.00217383774, 0.000248750002, 1.1604161e-05,
                                  -9.89104956e-06, 1.20447555e-06};
// erfc(a) = e^(-a^2) K(a) / a, K(a) = a e^(a^2) erfc(a), for a in [0.5, 27.3]: degree-16
// Chebyshev fits in t = a - c on [0.5, 1.25], then t = 1/a - c on a in [1.25, 2.5], [2.5, 7],
// [7, 27.5]; the constant term carries an extra double (relative error 2^-57.5 .. 2^-61).
constexpr int kErfcDegree = 16;
constexpr double kErfcBreaks[3] = {1.25, 2.5, 7.0};
constexpr double kErfcCenters[4] = {0.875, 0.6, 0.2714285714285714, 0.08961038961038961};
constexpr double kErfcC0Lo[4] = {4.6119990938691625e-18, -6.296454792431388e-18, -3.4349543578483306e-17, 4.547206144652702e-17};
constexpr double kErfcCoeffs[4][kErfcDegree + 1] = {
    {0.40627263530233537, 0.1879569237731824, -0.1513715881893072, 0.09965683066275567,
     -0.057314528711251006, 0.029768330282193604, -0.014243381818716878, 0.006361931317073385,
     -0.0026778651925070712, 0.0010697865581941917, -0.00040786838417403637,
     0.00014907267674319944, -5.241966211301613e-05, 1.776200567473322e-05,
     -5.833077862730039e-06, 1.96644976081033e-06, -6.066281826217294e-07},
    {0.49381246228201886, -0.17138075875024028, -0.007002649624064664, 0.08021881214418583,
     -0.08431841702736728, 0.05075075415562784, -0.004958640205554971, -0.034544466502368504,
     0.056527921479216335, -0.05678107676363659, 0.03723945788472928, -0.004573992067017394,
     -0.03169131015081662, 0.06165714339950913, -0.0763767506320826, 0.06437182426928875,
     -0.02478990898176849},
    {0.5453633615250431, -0.1263367601919428, -0.15377756991461952, 0.21593313747833043,
     -0.05452269232236169, -0.22120396762481548, 0.38848525700883163, -0.19616294876749693,
     -0.44647643984017304, 1.225218099691186, -1.2892410314319722, -0.4665246491576277,
     4.405231441455742, -8.560019431855768, 6.4875274531631595, 15.534342596335472,
     -47.87360848629062},
    {0.5619511080414743, -0.04937468053532017, -0.26268017330441995, 0.1375598499247198,
     0.3107940415806534, -0.4408587263995267, -0.41355874953467436, 1.556080699030784,
     -0.12573265626880045, -5.485579630865252, 6.7863774448602685, 15.778067693274222,
     -54.02435167619687, -3.9409451648771614, 307.4926410223837, -424.14119728728036,
     -1121.9306633535366},
};

// Payne-Hanek reduction for |x| >= 2^45 (exponent E): bucket i = (E - 45) / 16 holds
// V = (2/pi * 2^(L-51) mod 4) * 2^51 with L = 44 + 16 i, split as V0 (an integer < 2^53) + V1
// (multiple of 2^-53) + V2 (multiple of 2^-106) + V3. Then x * 2^-L * V = x * 2/pi (mod 4).
constexpr int kRemPio2Buckets = 62;
constexpr double kRemPio2Table[kRemPio2Buckets * 4] = {
    0x1.45f306dc9c800p+43, 0x1.054a7f09d5f46p-2, 0x1.d4d377036d8a5p-54, 0x1.993c439041fe5p-108,
    0x1.f306dc9c882a4p+51, 0x1.3f84eafa3ea69p-1, 0x1.77036d8a5664fp-54, 0x1.0e4107f9458ebp-110,
    0x1.6e4e441529fc2p+52, 0x1.d5f47d4d37702p-2, 0x1.6d8a5664f10e4p-54, 0x1.07f9458eaf7afp-110,
    0x1.1054a7f09d5f4p+50, 0x1.f534ddc0db628p-4, 0x1.5993c439041fcp-56, 0x1.28b1d5ef5de2bp-107,
    0x1.29fc2757d1f53p+52, 0x1.377036d8a5664p-2, 0x1.e21c820ff28b0p-55, 0x1.d5ef5de2b0db9p-107,
    0x1.3abe8fa9a6ee0p+49, 0x1.b6c52b3278870p-5, 0x1.041fe5163abdcp-56, 0x1.5de2b0db92372p-107,
    0x1.d1f534ddc0db6p+52, 0x1.4acc9e21c820cp-3, 0x1.f9458eaf7aef1p-54, 0x1.61b7246e3a425p-108,
    0x1.34ddc0db62959p+52, 0x1.278872083fca2p-1, 0x1.8eaf7aef1586dp-54, 0x1.92371d2126e97p-107,
    0x1.c0db6295993c4p+52, 0x1.c820ff28b1d5cp-3, 0x1.7aef1586dc91bp-54, 0x1.1d2126e970032p-107,
    0x1.6295993c43904p+52, 0x1.fe5163abdebb8p-4, 0x1.1586dc91b8e90p-54, 0x1.26e9700324977p-107,
    0x1.993c439041fe5p+52, 0x1.63abdebbc5618p-4, 0x1.b92371d2126e8p-55, 0x1.700324977504fp-107,
    0x1.0e4107f9458e8p+50, 0x1.7bd778ac36e48p-1, 0x1.b8e909374b801p-54, 0x1.24977504e8c91p-107,
    0x1.07f9458eaf7acp+50, 0x1.78ac36e48dc74p-1, 0x1.09374b801924bp-54, 0x1.7504e8c90e7f1p-107,
    0x1.458eaf7aef158p+50, 0x1.b7246e3a424d8p-4, 0x1.4b801924bba82p-54, 0x1.d1921cfe1deb2p-108,
    0x1.abdebbc561b72p+52, 0x1.1b8e909374b80p-2, 0x1.924bba8274640p-58, 0x1.0e7f0ef58e589p-107,
    0x1.778ac36e48dc6p+51, 0x1.4849ba5c00c92p-1, 0x1.77504e8c90e7ep-55, 0x1.0ef58e5894d3ap-107,
    0x1.61b7246e3a424p+52, 0x1.ba5c00c925dd4p-1, 0x1.3a32439fc3bd0p-57, 0x1.8e5894d39f744p-107,
    0x1.246e3a424dd2ep+52, 0x1.924bba8274600p-10, 0x1.21cfe1deb1cb0p-56, 0x1.29a73ee88235fp-108,
    0x1.d2126e9700320p+49, 0x1.25dd413a32439p-1, 0x1.f877ac72c4a69p-54, 0x1.9f74411afa976p-107,
    0x1.374b801924bb8p+50, 0x1.413a32439fc3bp-1, 0x1.ac72c4a69cfbap-54, 0x1.046bea5d76891p-109,
    0x1.c00c925dd413ap+51, 0x1.921cfe1deb1c8p-4, 0x1.894d39f74411ap-55, 0x1.f52ebb4484e9ap-108,
    0x1.24bba82746484p+50, 0x1.9fc3bd6396253p-1, 0x1.39f74411afa96p-55, 0x1.5da24274ce381p-107,
    0x1.d413a32439fc2p+51, 0x1.bd63962534e7dp-1, 0x1.a208d7d4baed1p-54, 0x1.09d338e04d68cp-109,
    0x1.d1921cfe1deb1p+52, 0x1.962534e7dd104p-1, 0x1.afa975da24274p-55, 0x1.9c7026b45f7e4p-108,
    0x1.cfe1deb1cb120p+48, 0x1.34e7dd1046beap-1, 0x1.75da24274ce38p-55, 0x1.35a2fbf209cc9p-111,
    0x1.deb1cb129a730p+48, 0x1.dd1046bea5d76p-1, 0x1.1213a671c09adp-54, 0x1.7df904e64758ep-110,
    0x1.1cb129a73ee88p+52, 0x1.1afa975da2424p-3, 0x1.a671c09ad17dfp-54, 0x1.209cc8eb1cc1bp-107,
    0x1.29a73ee88235fp+52, 0x1.4baed1213a670p-2, 0x1.c09ad17df904ep-54, 0x1.91d639835339fp-108,
    0x1.3ee88235f52ebp+52, 0x1.68909d338e04dp-1, 0x1.a2fbf209cc8eap-55, 0x1.1cc1a99cfa4e4p-107,
    0x1.046bea5d76890p+51, 0x1.3a671c09ad17cp-2, 0x1.f904e64758e60p-54, 0x1.a99cfa4e422fcp-107,
    0x1.f52ebb4484e99p+52, 0x1.8e04d68befc82p-1, 0x1.cc8eb1cc1a99cp-55, 0x1.f49c845f8bbe0p-108,
    0x1.768909d338e04p+51, 0x1.ad17df904e646p-2, 0x1.58e60d4ce7d27p-54, 0x1.08bf177bf2507p-109,
    0x1.09d338e04d68ap+51, 0x1.efc827323ac73p-1, 0x1.a99cfa4e422e0p-59, 0x1.c5defc941d900p-107,
    0x1.9c7026b45f7e4p+52, 0x1.3991d63983530p-4, 0x1.cfa4e422fc5dep-55, 0x1.f9283b1ff8980p-108,
    0x1.35a2fbf209cc8p+49, 0x1.d639835339f48p-4, 0x1.c845f8bbdf928p-56, 0x1.d8ffc4bffef03p-111,
    0x1.7df904e64758cp+50, 0x1.306a673e93908p-1, 0x1.7e2ef7e4a0ec7p-54, 0x1.fc4bffef02cc0p-107,
    0x1.04e64758e60d4p+50, 0x1.9cfa4e422fc5cp-3, 0x1.efc941d8ffc4ap-55, 0x1.ffef02cc07f79p-107,
    0x1.91d639835339fp+52, 0x1.272117e2ef7e4p-2, 0x1.41d8ffc4bffeep-55, 0x1.02cc07f79788cp-107,
    0x1.cc1a99cfa4e40p+49, 0x1.17e2ef7e4a0ecp-2, 0x1.ff897ffde0598p-56, 0x1.fde5e2316b415p-113,
    0x1.5339f49c845f8p+52, 0x1.77bf250763ff1p-1, 0x1.7ffde05980fecp-56, 0x1.9788c5ad05369p-107,
    0x1.f49c845f8bbdfp+52, 0x1.250763ff12fffp-1, 0x1.7816603fbcbc4p-54, 0x1.8b5a0a6d1f6d3p-108,
    0x1.08bf177bf2506p+51, 0x1.63ff12fffbc0bp-1, 0x1.80fef2f118b58p-56, 0x1.05368fb69b3f6p-107,
    0x1.8bbdf9283b1ffp+52, 0x1.12fffbc0b301fp-1, 0x1.bcbc462d6829bp-54, 0x1.1f6d367ecf27dp-108,
    0x1.f9283b1ff897fp+52, 0x1.fbc0b301fde5ep-1, 0x1.18b5a0a6d1f6cp-56, 0x1.367ecf27cb09bp-108,
    0x1.d8ffc4bffef00p+49, 0x1.6603fbcbc462cp-2, 0x1.6829b47db4d9fp-54, 0x1.6793e584dba7ap-107,
    0x1.f897ffde05980p+52, 0x1.fde5e2316b414p-1, 0x1.b47db4d9fb3c9p-54, 0x1.e584dba7a31fbp-107,
    0x1.ffde05980fef2p+52, 0x1.e2316b414da3ep-1, 0x1.b4d9fb3c9f2c2p-54, 0x1.b74f463f669e6p-108,
    0x1.6603fbcbc4600p+46, 0x1.6b414da3eda6cp-1, 0x1.fb3c9f2c26dd3p-54, 0x1.a31fb34f2ff51p-107,
    0x1.fde5e2316b400p+47, 0x1.4da3eda6cfd9ep-1, 0x1.3e584dba7a31ep-55, 0x1.b34f2ff516ba9p-107,
    0x1.2f118b5a0a6d1p+52, 0x1.eda6cfd9e4f96p-1, 0x1.36e9e8c7ecd38p-57, 0x1.2ff516ba93dd6p-107,
    0x1.8b5a0a6d1f6d3p+52, 0x1.9fb3c9f2c26dcp-2, 0x1.3d18fd9a797fap-54, 0x1.16ba93dd63f5fp-107,
    0x1.4da3eda6cfd80p+47, 0x1.e4f96136e9e8cp-1, 0x1.fb34f2ff516bap-55, 0x1.27bac7ebe5f18p-108,
    0x1.1f6d367ecf27cp+52, 0x1.6136e9e8c7ecdp-1, 0x1.e5fea2d7527b8p-56, 0x1.63f5f2f8bd9e8p-107,
    0x1.367ecf27cb09bp+52, 0x1.d3d18fd9a797ep-2, 0x1.a8b5d49eeb1fap-54, 0x1.f2f8bd9e839d0p-107,
    0x1.9e4f96136e9e8p+51, 0x1.8fd9a797fa8b4p-2, 0x1.d49eeb1faf97cp-54, 0x1.7b3d0739f78a5p-108,
    0x1.cb09b74f463f6p+52, 0x1.a797fa8b5d49ep-2, 0x1.d63f5f2f8bd9ep-55, 0x1.0739f78a5292fp-108,
    0x1.b74f463f669e5p+52, 0x1.fd45aea4f758fp-1, 0x1.af97c5ecf41cep-54, 0x1.f78a5292ea6c0p-108,
    0x1.463f669e5fea2p+52, 0x1.aea4f758fd7cbp-1, 0x1.c5ecf41ce7de2p-54, 0x1.29497535fdafep-107,
    0x1.669e5fea2d752p+52, 0x1.eeb1faf97c5ecp-2, 0x1.e839cfbc52948p-55, 0x1.7535fdafd88fcp-107,
    0x1.7fa8b5d49eeb0p+50, 0x1.faf97c5ecf41cp-2, 0x1.cfbc529497534p-55, 0x1.fdafd88fc6ae8p-107,
    0x1.6ba93dd63f5f0p+49, 0x1.7c5ecf41ce7dep-2, 0x1.4a525d4d7f6b8p-57, 0x1.d88fc6ae842b0p-107,
    0x1.27bac7ebe5f17p+52, 0x1.67a0e73ef14a5p-1, 0x1.2ea6bfb5fb11cp-56, 0x1.c6ae842b01982p-107,
};

// The same for widened floats (exponent E in [47, 127]): bucket i = (E - 47) / 16 holds
// V = (2/pi * 2^(L-23) mod 4) * 2^23, L = 47 + 16 i, in 29-bit pieces (multiples of 2^-4,
// 2^-33, 2^-62, then the rest), so that the products with a 24-bit significand are exact.
constexpr double kRemPio2F32Table[6 * 4] = {
    0x1.b727220000000p+24, 0x1.529fc27000000p-5, 0x1.5f47d4c000000p-35, 0x1.377036d8a5665p-63,
    0x1.220a94f000000p+24, 0x1.c2757d1000000p-5, 0x1.ea69bb8000000p-34, 0x1.b6c52b3278872p-66,
    0x1.29fc274000000p+23, 0x1.7d1f534000000p-5, 0x1.bb81b6c000000p-34, 0x1.4acc9e21c8210p-64,
    0x1.3abe8f0000000p+20, 0x1.534ddc0000000p-5, 0x1.b6c52b3000000p-34, 0x1.3c439041fe516p-65,
    0x1.e8fa9a6000000p+24, 0x1.dc0db62000000p-5, 0x1.2b32788000000p-34, 0x1.c820ff28b1d5fp-64,
    0x1.34ddc0c000000p+23, 0x1.b629599000000p-5, 0x1.e21c820000000p-36, 0x1.fe5163abdebbcp-65,
};

// ---------------------------------------------------------------------------------------------
// Emission helpers for one float type: float or double, scalar or fixed vector.

struct DD {
  Value* hi;
  Value* lo;
};

class Em {
 public:
  Em(llvm::IRBuilder<>& builder, llvm::Type* type, bool narrow_ = false)
      : b(builder), ty(type), narrow(narrow_) {
    f64 = type->getScalarType()->isDoubleTy();
    ity = like(b.getIntNTy(f64 ? 64 : 32));
  }

  llvm::IRBuilder<>& b;
  llvm::Type* ty;   // the float type
  llvm::Type* ity;  // the integer type of the same width
  bool f64 = false;
  bool narrow = false;  // double arithmetic for a float result: float accuracy suffices

  llvm::Type* like(llvm::Type* scalar) const {
    if (auto* v = llvm::dyn_cast<llvm::VectorType>(ty))
      return llvm::VectorType::get(scalar, v->getElementCount());
    return scalar;
  }
  int mant() const { return f64 ? 52 : 23; }
  int bias() const { return f64 ? 1023 : 127; }

  Value* c(double v) const { return llvm::ConstantFP::get(ty, v); }
  Value* ci(int64_t v) const { return llvm::ConstantInt::get(ity, static_cast<uint64_t>(v), true); }

  Value* add(Value* x, Value* y) { return b.CreateFAdd(x, y); }
  Value* sub(Value* x, Value* y) { return b.CreateFSub(x, y); }
  Value* mul(Value* x, Value* y) { return b.CreateFMul(x, y); }
  Value* div(Value* x, Value* y) { return b.CreateFDiv(x, y); }
  Value* neg(Value* x) { return b.CreateFNeg(x); }
  Value* fma(Value* x, Value* y, Value* z) {
    return b.CreateIntrinsic(llvm::Intrinsic::fma, {ty}, {x, y, z});
  }
  Value* fabs(Value* x) { return b.CreateUnaryIntrinsic(llvm::Intrinsic::fabs, x); }
  Value* copysign(Value* mag, Value* sgn) {
    return b.CreateBinaryIntrinsic(llvm::Intrinsic::copysign, mag, sgn);
  }
  Value* rint(Value* x) { return b.CreateUnaryIntrinsic(llvm::Intrinsic::rint, x); }
  Value* floor(Value* x) { return b.CreateUnaryIntrinsic(llvm::Intrinsic::floor, x); }
  Value* sqrt(Value* x) { return b.CreateUnaryIntrinsic(llvm::Intrinsic::sqrt, x); }

  // Ordered comparisons are false for NaN; ult/ugt are true for NaN.
  Value* lt(Value* x, Value* y) { return b.CreateFCmpOLT(x, y); }
  Value* le(Value* x, Value* y) { return b.CreateFCmpOLE(x, y); }
  Value* gt(Value* x, Value* y) { return b.CreateFCmpOGT(x, y); }
  Value* ge(Value* x, Value* y) { return b.CreateFCmpOGE(x, y); }
  Value* eq(Value* x, Value* y) { return b.CreateFCmpOEQ(x, y); }
  Value* ult(Value* x, Value* y) { return b.CreateFCmpULT(x, y); }
  Value* ugt(Value* x, Value* y) { return b.CreateFCmpUGT(x, y); }
  Value* isnan(Value* x) { return b.CreateFCmpUNO(x, x); }
  Value* lt(Value* x, double y) { return lt(x, c(y)); }
  Value* le(Value* x, double y) { return le(x, c(y)); }
  Value* gt(Value* x, double y) { return gt(x, c(y)); }
  Value* ge(Value* x, double y) { return ge(x, c(y)); }
  Value* eq(Value* x, double y) { return eq(x, c(y)); }
  Value* sel(Value* cond, Value* x, Value* y) { return b.CreateSelect(cond, x, y); }
  Value* sel(Value* cond, double x, Value* y) { return b.CreateSelect(cond, c(x), y); }
  Value* sel(Value* cond, Value* x, double y) { return b.CreateSelect(cond, x, c(y)); }
  Value* both(Value* p, Value* q) { return b.CreateAnd(p, q); }
  Value* either(Value* p, Value* q) { return b.CreateOr(p, q); }
  Value* isinf(Value* x) { return eq(fabs(x), HUGE_VAL); }
  /// |x| < inf (false for NaN and +-inf).
  Value* isfinite(Value* x) { return lt(fabs(x), HUGE_VAL); }
  /// x limited to [lo, hi]; NaN becomes lo.
  Value* clamp(Value* x, double lo, double hi) { return sel(ult(x, c(lo)), lo, sel(gt(x, hi), hi, x)); }
  /// The sign bit of x is set (true for -0 and negative NaNs).
  Value* signbit(Value* x) { return b.CreateICmpSLT(bits(x), ci(0)); }

  Value* bits(Value* x) { return b.CreateBitCast(x, ity); }
  Value* from_bits(Value* i) { return b.CreateBitCast(i, ty); }
  Value* iadd(Value* i, Value* j) { return b.CreateAdd(i, j); }
  Value* iadd(Value* i, int64_t j) { return b.CreateAdd(i, ci(j)); }
  Value* isub(Value* i, Value* j) { return b.CreateSub(i, j); }
  Value* iand(Value* i, int64_t mask) { return b.CreateAnd(i, ci(mask)); }
  Value* ixor(Value* i, Value* j) { return b.CreateXor(i, j); }
  Value* shl(Value* i, int n) { return b.CreateShl(i, ci(n)); }
  Value* ashr(Value* i, int n) { return b.CreateAShr(i, ci(n)); }
  Value* lshr(Value* i, int n) { return b.CreateLShr(i, ci(n)); }
  Value* ieq(Value* i, int64_t j) { return b.CreateICmpEQ(i, ci(j)); }
  Value* ilt(Value* i, int64_t j) { return b.CreateICmpSLT(i, ci(j)); }
  Value* igt(Value* i, int64_t j) { return b.CreateICmpSGT(i, ci(j)); }
  Value* imin(Value* i, int64_t j) { return b.CreateSelect(igt(i, j), ci(j), i); }
  Value* imax(Value* i, int64_t j) { return b.CreateSelect(ilt(i, j), ci(j), i); }

  /// An integer-valued x with |x| < 2^31 as ity (through i32: cvttpd2dq needs no AVX-512DQ).
  Value* to_int(Value* x) {
    Value* i = b.CreateFPToSI(x, like(b.getInt32Ty()));
    return f64 ? b.CreateSExt(i, ity) : i;
  }
  /// A small integer (|i| < 2^31) as a float.
  Value* to_fp(Value* i) {
    if (f64) i = b.CreateTrunc(i, like(b.getInt32Ty()));
    return b.CreateSIToFP(i, ty);
  }
  /// 2^n for an integer n in the normal exponent range.
  Value* pow2(Value* n) { return from_bits(shl(iadd(n, bias()), mant())); }
  /// x * 2^n for n within twice the normal exponent range, with one rounding (into the
  /// subnormals when the result is that small).
  Value* scale(Value* x, Value* n) {
    Value* n1 = ashr(n, 1);
    return mul(mul(x, pow2(n1)), pow2(isub(n, n1)));
  }
  /// x with the sign bit of s flipped in (x * sign(s) for the magnitude-symmetric functions).
  Value* xorsign(Value* x, Value* s) {
    Value* sign = b.CreateAnd(bits(s), ci(f64 ? INT64_MIN : INT32_MIN));
    return from_bits(ixor(bits(x), sign));
  }

  /// c[0] + c[1] x + ... by Horner's rule with fused multiply-adds.
  Value* poly(Value* x, Coeffs coeffs) {
    Value* acc = c(coeffs.back());
    for (size_t k = coeffs.size() - 1; k-- > 0;) acc = fma(acc, x, c(coeffs[k]));
    return acc;
  }

  // Error-free transformations.
  DD two_sum(Value* x, Value* y) {
    Value* s = add(x, y);
    Value* yy = sub(s, x);
    Value* err = add(sub(x, sub(s, yy)), sub(y, yy));
    return {s, err};
  }
  /// Needs |x| >= |y| (or x = 0).
  DD fast_two_sum(Value* x, Value* y) {
    Value* s = add(x, y);
    return {s, sub(y, sub(s, x))};
  }
  DD two_prod(Value* x, Value* y) {
    Value* p = mul(x, y);
    return {p, fma(x, y, neg(p))};
  }
};

// ---------------------------------------------------------------------------------------------
// Exponentials.

constexpr double kLog2e = 1.4426950408889634;
constexpr double kLn2 = 0.6931471805599453;
// ln2 = hi + lo, hi with trailing zero bits, so that k * hi is exact for |k| < 2^11.
constexpr double kLn2HiF64 = 6.93147180369123816490e-01;
constexpr double kLn2LoF64 = 1.90821492927058770002e-10;
constexpr double kLn2HiF32 = 0.693145752;  // 0x3f317200
constexpr double kLn2LoF32 = 1.42860677e-06;

struct ExpParts {
  Value* p;   // exp(r) in [0.7, 1.42], rounded
  Value* lo;  // its rounding error: exp(x) = (p + lo) * 2^n to about 2^-70 (f64)
  Value* n;   // integer (ity)
};

/// exp(x + xlo) as (p + lo) * 2^n for x in the clamped range of exp (finite; no NaN).
ExpParts exp_parts(Em& e, Value* x, Value* xlo = nullptr) {
  // x = n ln2 + r, r = r_hi + r_lo, |r| <= ln2/2. With fma, x - n*ln2(rounded) is exact.
  double ln2_hi = e.f64 ? kLn2 : 0.693147182;
  double ln2_lo = e.f64 ? 2.3190468138462996e-17 : -1.90465421e-09;
  Value* nf = e.rint(e.mul(x, e.c(kLog2e)));
  Value* r1 = e.fma(e.neg(nf), e.c(ln2_hi), x);
  Value* t = e.mul(nf, e.c(ln2_lo));
  Value* r = e.sub(r1, t);
  Value* rlo = e.sub(e.sub(r1, r), t);
  if (xlo) {  // fold a larger xlo into r, so that the remaining rlo is below ulp(r)
    Value* lo = e.add(rlo, xlo);
    Value* r2 = e.add(r, lo);
    rlo = e.add(e.sub(r, r2), lo);
    r = r2;
  }
  // e^(r + rlo) = 1 + (r + (r^2 P(r) + rlo (1 + r))), the sums carried error-free.
  Value* u = e.fma(e.mul(r, r), e.poly(r, e.f64 ? Coeffs(kExpF64) : Coeffs(kExpF32)), e.fma(rlo, r, rlo));
  DD v = e.fast_two_sum(r, u);
  DD p = e.fast_two_sum(e.c(1.0), v.hi);
  return {p.hi, e.add(p.lo, v.lo), e.to_int(nf)};
}

// Inputs beyond these give 0 or inf (exp(-746) < 2^-1075, exp(710) > DBL_MAX; f32 likewise).
double exp_lo(const Em& e) { return e.f64 ? -746.0 : -104.0; }
double exp_hi(const Em& e) { return e.f64 ? 710.0 : 89.0; }

Value* emit_exp(Em& e, Value* x) {
  ExpParts ep = exp_parts(e, e.clamp(x, exp_lo(e), exp_hi(e)));
  return e.sel(e.isnan(x), x, e.scale(ep.p, ep.n));
}

Value* emit_exp2(Em& e, Value* x) {
  Value* xc = e.f64 ? e.clamp(x, -1080.0, 1025.0) : e.clamp(x, -152.0, 129.0);
  Value* nf = e.rint(xc);
  Value* r = e.sub(xc, nf);
  Value* p = e.fma(r, e.poly(r, e.f64 ? Coeffs(kExp2F64) : Coeffs(kExp2F32)), e.c(1.0));
  return e.sel(e.isnan(x), x, e.scale(p, e.to_int(nf)));
}

/// expm1(x) as an unnormalized hi + lo, for x in [expm1_lo, exp_hi] (finite, clamped; no NaN).
DD expm1_core(Em& e, Value* x) {
  double ln2_hi = e.f64 ? kLn2 : 0.693147182;
  double ln2_lo = e.f64 ? 2.3190468138462996e-17 : -1.90465421e-09;
  Value* nf = e.rint(e.mul(x, e.c(kLog2e)));
  Value* r1 = e.fma(e.neg(nf), e.c(ln2_hi), x);
  Value* t = e.mul(nf, e.c(ln2_lo));
  Value* r = e.sub(r1, t);
  Value* rlo = e.sub(e.sub(r1, r), t);
  // expm1(r + rlo) = r + w, w = r^2/2 + r^3 P(r) + rlo (1 + r); em = r + w as hi + lo.
  Value* r2 = e.mul(r, r);
  Value* v = e.fma(e.mul(r2, r), e.poly(r, e.f64 ? Coeffs(kExpm1F64) : Coeffs(kExpm1F32)),
                   e.fma(rlo, r, rlo));
  DD em = e.fast_two_sum(r, e.fma(r2, e.c(0.5), v));
  // expm1(x) = (2^n - 1) + 2^n em, with 2^n em_hi exact and the first sum error-free. At the
  // top exponent 2^n itself overflows and the -1 no longer matters: (em + 1) 2^(n-1) 2.
  int top = e.f64 ? 1024 : 128;
  Value* n = e.to_int(nf);
  Value* s = e.pow2(e.imin(n, top - 1));
  DD sum = e.two_sum(e.sub(s, e.c(1.0)), e.mul(s, em.hi));
  Value* lo = e.fma(s, em.lo, sum.lo);
  Value* big = e.mul(e.mul(e.add(em.hi, e.c(1.0)), e.pow2(e.iadd(n, -1))), e.c(2.0));
  Value* at_top = e.b.CreateICmpEQ(n, e.ci(top));
  return {e.sel(at_top, big, sum.hi), e.sel(at_top, e.c(0.0), lo)};
}

/// (a_hi + a_lo) / (b_hi + b_lo) to about twice the working precision before the final
/// rounding: one division and an exact residual.
Value* dd_div(Em& e, Value* a_hi, Value* a_lo, Value* b_hi, Value* b_lo) {
  Value* rcp = e.div(e.c(1.0), b_hi);
  Value* q = e.mul(a_hi, rcp);
  Value* rho = e.fma(e.neg(q), b_hi, a_hi);  // exact for a faithful q
  Value* corr = e.sub(e.add(rho, a_lo), e.mul(q, b_lo));
  return e.fma(corr, rcp, q);
}

double expm1_lo(const Em& e) { return e.f64 ? -40.0 : -20.0; }  // expm1 rounds to -1 below

Value* emit_expm1(Em& e, Value* x) {
  DD em = expm1_core(e, e.clamp(x, expm1_lo(e), exp_hi(e)));
  Value* y = e.add(em.hi, em.lo);
  y = e.sel(e.eq(x, 0.0), x, y);  // keeps -0
  return e.sel(e.isnan(x), x, y);
}

Value* emit_tanh(Em& e, Value* x) {
  Value* a = e.fabs(x);
  // Small: odd polynomial. Large: tanh a = em / (em + 2), em = expm1(2a); it rounds to 1
  // beyond 9.01 (f32) / 19.06 (f64), so a is capped there (NaN goes to the cap too).
  double small_max = e.f64 ? 0.625 : 0.5625;
  double cap = e.f64 ? 22.0 : 9.5;
  Value* z = e.mul(a, a);
  Value* small = e.fma(e.mul(a, z), e.poly(z, e.f64 ? Coeffs(kTanhF64) : Coeffs(kTanhF32)), a);
  Value* ac = e.sel(e.lt(a, cap), a, cap);
  DD em = expm1_core(e, e.add(ac, ac));
  DD den = e.fast_two_sum(e.c(2.0), em.hi);
  Value* big = dd_div(e, em.hi, em.lo, den.hi, e.add(den.lo, em.lo));
  Value* y = e.copysign(e.sel(e.lt(a, small_max), small, big), x);
  return e.sel(e.isnan(x), x, y);
}

Value* emit_logistic(Em& e, Value* x) {
  // 1 / (1 + e^-x) for x >= 0, e^x / (1 + e^x) for x < 0: never an overflowing exp.
  Value* ma = e.neg(e.fabs(x));
  ExpParts ep = exp_parts(e, e.sel(e.ult(ma, e.c(exp_lo(e))), e.c(exp_lo(e)), ma));
  Value* ex = e.scale(ep.p, ep.n);
  Value* ex_lo = e.scale(ep.lo, ep.n);
  DD den = e.fast_two_sum(e.c(1.0), ex);
  Value* neg = e.lt(x, 0.0);
  Value* y = dd_div(e, e.sel(neg, ex, e.c(1.0)), e.sel(neg, ex_lo, e.c(0.0)), den.hi, e.add(den.lo, ex_lo));
  return e.sel(e.isnan(x), x, y);
}

// ---------------------------------------------------------------------------------------------
// Logarithms.

struct LogParts {
  Value* k;  // exponent as a float
  Value* f;  // x = 2^k (1 + f), 1 + f in [sqrt(1/2), sqrt(2))
};

/// For x > 0 finite, subnormals included.
LogParts log_parts(Em& e, Value* x) {
  Value* sub = e.lt(x, e.f64 ? DBL_MIN : FLT_MIN);
  Value* xs = e.sel(sub, e.mul(x, e.c(e.f64 ? 0x1p54 : 0x1p23)), x);
  Value* kadj = e.sel(sub, e.ci(e.f64 ? -54 : -23), e.ci(0));
  int64_t sqrt_half = e.f64 ? 0x3fe6a09e667f3bcdLL : 0x3f3504f3LL;
  Value* ix = e.isub(e.bits(xs), e.ci(sqrt_half));
  Value* k = e.iadd(e.ashr(ix, e.mant()), kadj);
  Value* m = e.from_bits(e.iadd(e.iand(ix, (int64_t{1} << e.mant()) - 1), sqrt_half));
  return {e.to_fp(k), e.sub(m, e.c(1.0))};
}

/// log(x) + kadd ln2 for x > 0 finite; `c` (optional) is a small correction added to log(x)
/// (log1p's), `kadd` (optional) a small integer as a float.
Value* log_core(Em& e, Value* x, Value* c = nullptr, Value* kadd = nullptr) {
  LogParts lp = log_parts(e, x);
  Value* f = lp.f;
  Value* k = kadd ? e.add(lp.k, kadd) : lp.k;
  if (!e.f64) {
    // log = (k ln2_hi + f) + (f^2 (f P(f) - 1/2) + k ln2_lo + c), the first sum error-free.
    Value* lo = e.mul(k, e.c(kLn2LoF32));
    if (c) lo = e.add(lo, c);
    Value* tail = e.fma(e.mul(f, f), e.fma(f, e.poly(f, kLogF32), e.c(-0.5)), lo);
    DD head = e.two_sum(e.mul(k, e.c(kLn2HiF32)), f);
    return e.add(head.hi, e.add(head.lo, tail));
  }
  // log(1+f) = f - hfsq + s (hfsq + R), s = f / (2 + f), R = z P(z), z = s^2.
  Value* s = e.div(f, e.add(e.c(2.0), f));
  Value* z = e.mul(s, s);
  Value* r = e.mul(z, e.poly(z, kLogF64));
  Value* hfsq = e.mul(e.mul(e.c(0.5), f), f);
  Value* lo = e.mul(k, e.c(kLn2LoF64));
  if (c) lo = e.add(lo, c);
  // k ln2_hi - ((hfsq - (s (hfsq + R) + lo)) - f)
  Value* inner = e.sub(e.sub(hfsq, e.fma(s, e.add(hfsq, r), lo)), f);
  return e.sub(e.mul(k, e.c(kLn2HiF64)), inner);
}

/// log-family special values: x == 0 -> -inf, x < 0 -> NaN, +inf -> +inf, NaN -> NaN.
Value* log_specials(Em& e, Value* x, Value* y) {
  y = e.sel(e.eq(x, 0.0), -HUGE_VAL, y);
  y = e.sel(e.lt(x, 0.0), e.c(NAN), y);
  y = e.sel(e.eq(x, HUGE_VAL), HUGE_VAL, y);
  return e.sel(e.isnan(x), x, y);
}

/// x with zeros, negatives, inf and NaN replaced by 1 (they are patched by log_specials).
Value* log_domain(Em& e, Value* x) { return e.sel(e.both(e.gt(x, 0.0), e.lt(x, HUGE_VAL)), x, e.c(1.0)); }

Value* emit_log(Em& e, Value* x) { return log_specials(e, x, log_core(e, log_domain(e, x))); }

Value* emit_log2(Em& e, Value* x) {
  LogParts lp = log_parts(e, log_domain(e, x));
  Value* f = lp.f;
  Value* k = lp.k;
  Value* y;
  if (!e.f64) {
    // k + f L_hi + (f L_lo + f^2 Q(f)) with the leading sums error-free: one final rounding.
    Value* tail = e.fma(e.mul(f, f), e.poly(f, kLog2F32), e.mul(f, e.c(kLog2eLoF32)));
    DD fl = e.two_prod(f, e.c(kLog2eHiF32));
    DD head = e.two_sum(k, fl.hi);
    y = e.add(head.hi, e.add(head.lo, e.add(fl.lo, tail)));
  } else {
    // As log, with the sum split into hi (32 significant bits) + lo for the 1/ln2 scaling.
    Value* s = e.div(f, e.add(e.c(2.0), f));
    Value* z = e.mul(s, s);
    Value* r = e.mul(z, e.poly(z, kLogF64));
    Value* hfsq = e.mul(e.mul(e.c(0.5), f), f);
    Value* hi = e.sub(f, hfsq);
    hi = e.from_bits(e.b.CreateAnd(e.bits(hi), e.ci(int64_t(0xffffffff00000000ULL))));
    Value* lo = e.fma(s, e.add(hfsq, r), e.sub(e.sub(f, hi), hfsq));
    constexpr double kInvLn2Hi = 1.44269504072144627571e+00;  // 0x3ff7154765200000
    constexpr double kInvLn2Lo = 1.67517131648865118353e-10;
    Value* val_hi = e.mul(hi, e.c(kInvLn2Hi));
    Value* val_lo = e.fma(e.add(lo, hi), e.c(kInvLn2Lo), e.mul(lo, e.c(kInvLn2Hi)));
    Value* w = e.add(k, val_hi);
    val_lo = e.add(val_lo, e.add(e.sub(k, w), val_hi));
    y = e.add(val_lo, w);
  }
  return log_specials(e, x, y);
}

/// log1p(x + xlo) for x > -1 finite, |xlo| <= ulp(x) (optional).
Value* log1p_core(Em& e, Value* x, Value* xlo = nullptr) {
  // u = 1 + x rounded; log1p(x) = log(u) + c/u with c the rounding error of u.
  Value* one = e.c(1.0);
  Value* u = e.add(one, x);
  Value* c = e.sel(e.gt(u, 2.0), e.sub(one, e.sub(u, x)), e.sub(x, e.sub(u, one)));
  if (xlo) c = e.add(c, xlo);
  return log_core(e, u, e.div(c, u));
}

Value* emit_log1p(Em& e, Value* x) {
  Value* ok = e.both(e.gt(x, -1.0), e.lt(x, HUGE_VAL));
  Value* y = log1p_core(e, e.sel(ok, x, e.c(0.0)));
  y = e.sel(e.eq(x, 0.0), x, y);  // keeps -0
  y = e.sel(e.eq(x, -1.0), -HUGE_VAL, y);
  y = e.sel(e.lt(x, -1.0), e.c(NAN), y);
  y = e.sel(e.eq(x, HUGE_VAL), HUGE_VAL, y);
  return e.sel(e.isnan(x), x, y);
}

// ---------------------------------------------------------------------------------------------
// Trigonometric functions (double arithmetic; float inputs are widened first).

constexpr double kPio2_1 = 0x1.921fb54442d18p+0;  // pi/2 = P1 + P2 + P3
constexpr double kPio2_2 = 0x1.1a62633145c07p-54;
constexpr double kPio2_3 = -0x1.f1976b7ed8fbcp-110;
constexpr double kTwoOverPi = 0.63661977236758134308;

struct Reduced {
  Value* q;   // quadrant in 0..3 (ity)
  Value* hi;  // a = q pi/2 + (hi + lo) (mod 2 pi), |hi| <= pi/4 (plus a little)
  Value* lo;
};

/// 4 table values kRemPio2Table[4 idx + k] for a bucket index idx in [0, count).
std::array<Value*, 4> rem_pio2_lookup(Em& e, Value* idx, int count) {
  std::array<Value*, 4> out{};
  if (count <= 8) {  // few buckets (float inputs): selects
    for (int k = 0; k < 4; ++k) {
      Value* v = e.c(kRemPio2Table[k]);
      for (int i = 1; i < count; ++i) v = e.sel(e.ieq(idx, i), e.c(kRemPio2Table[4 * i + k]), v);
      out[k] = v;
    }
    return out;
  }
  llvm::Module* module = e.b.GetInsertBlock()->getModule();
  llvm::Type* dbl = e.b.getDoubleTy();
  const char* name = "jx.vmath.rempio2";
  llvm::GlobalVariable* table = module->getNamedGlobal(name);
  if (!table) {
    auto* init = llvm::ConstantDataArray::get(module->getContext(),
                                              llvm::ArrayRef<double>(kRemPio2Table));
    table = new llvm::GlobalVariable(*module, init->getType(), /*isConstant=*/true,
                                     llvm::GlobalValue::PrivateLinkage, init, name);
    table->setUnnamedAddr(llvm::GlobalValue::UnnamedAddr::Global);
    table->setAlignment(llvm::Align(32));
  }
  for (int k = 0; k < 4; ++k) {
    Value* index = e.iadd(e.shl(idx, 2), k);
    Value* ptr = e.b.CreateInBoundsGEP(dbl, table, index);
    if (e.ty->isVectorTy())
      out[k] = e.b.CreateMaskedGather(e.ty, ptr, llvm::Align(8));
    else
      out[k] = e.b.CreateLoad(dbl, ptr);
  }
  return out;
}

/// Reduces a = |x| (finite, double) modulo pi/2. `max_exponent` bounds the exponent of the
/// inputs (127 for widened floats, 1023 for doubles).
Reduced rem_pio2(Em& e, Value* a, int max_exponent) {
  // Stage A, |a| < 2^45: Cody-Waite with pi/2 in three parts and error-free products; a - q P1
  // is exact for any integer q, the rest is carried as a double-double.
  Value* qf = e.rint(e.mul(a, e.c(kTwoOverPi)));
  Value* r1 = e.fma(e.neg(qf), e.c(kPio2_1), a);
  DD t = e.two_prod(qf, e.c(kPio2_2));
  DD s = e.two_sum(r1, e.neg(t.hi));
  Value* lo = e.sub(e.sub(s.lo, t.lo), e.mul(qf, e.c(kPio2_3)));
  DD ra = e.fast_two_sum(s.hi, lo);
  Value* qa = e.sub(qf, e.mul(e.c(4.0), e.floor(e.mul(qf, e.c(0.25)))));

  // Stage B, |a| >= 2^45: Payne-Hanek. a' = a 2^-L in [2, 2^17); a' V = a 2/pi (mod 4).
  int buckets = (max_exponent - 45) / 16 + 1;
  Value* ex = e.iadd(e.lshr(e.bits(a), 52), -1023);
  Value* idx = e.imin(e.imax(e.ashr(e.iadd(ex, -45), 4), 0), buckets - 1);
  Value* big_l = e.iadd(e.shl(idx, 4), 44);
  Value* xs = e.mul(a, e.pow2(e.isub(e.ci(0), big_l)));
  std::array<Value*, 4> v = rem_pio2_lookup(e, idx, buckets);
  DD p0 = e.two_prod(xs, v[0]);  // multiples of 2^-51, |p0| < 2^70
  DD p1 = e.two_prod(xs, v[1]);  // |p1.hi| < 2^17
  DD p2 = e.two_prod(xs, v[2]);  // < 2^-36
  Value* p3 = e.mul(xs, v[3]);   // < 2^-89
  // Integer parts (mod 4) and fractions of the large terms; the fractions sum exactly.
  Value* quadrant = e.c(0.0);
  auto split = [&](Value* x) {
    Value* i = e.rint(x);
    quadrant = e.add(quadrant, e.sub(i, e.mul(e.c(4.0), e.floor(e.mul(i, e.c(0.25))))));
    return e.sub(x, i);
  };
  Value* frac = e.add(split(p0.hi), split(p0.lo));
  DD sum = e.two_sum(frac, split(p1.hi));
  Value* whole = e.rint(sum.hi);
  quadrant = e.add(quadrant, whole);
  // Small terms with the integer part already removed: error-free sums, so the result keeps
  // its absolute accuracy (~2^-140) however much it cancels.
  DD a1 = e.two_sum(e.sub(sum.hi, whole), p1.lo);
  DD a2 = e.two_sum(a1.hi, p2.hi);
  DD a3 = e.two_sum(a2.hi, sum.lo);
  Value* tail = e.add(e.add(e.add(a1.lo, a2.lo), a3.lo), e.add(p2.lo, p3));
  DD frac_q = e.fast_two_sum(a3.hi, tail);  // in quadrants, |frac_q| <= 1/2 + 2^-35
  DD r = e.two_prod(frac_q.hi, e.c(kPio2_1));
  Value* rl = e.add(r.lo, e.fma(frac_q.hi, e.c(kPio2_2), e.mul(frac_q.lo, e.c(kPio2_1))));
  DD rb = e.fast_two_sum(r.hi, rl);
  Value* qb = e.sub(quadrant, e.mul(e.c(4.0), e.floor(e.mul(quadrant, e.c(0.25)))));

  Value* use_b = e.ge(a, 0x1p45);
  return {e.to_int(e.sel(use_b, qb, qa)), e.sel(use_b, rb.hi, ra.hi), e.sel(use_b, rb.lo, ra.lo)};
}

/// rem_pio2 for a widened float a = |x| (finite): float accuracy, fewer operations.
Reduced rem_pio2_narrow(Em& e, Value* a) {
  // |a| < 2^47: a - q P1 is exact and q P2 covers the rest of pi/2 to 2^-60 absolute.
  Value* qf = e.rint(e.mul(a, e.c(kTwoOverPi)));
  Value* ra = e.fma(e.neg(qf), e.c(kPio2_2), e.fma(e.neg(qf), e.c(kPio2_1), a));
  // |a| >= 2^47: a' = a 2^-L in [1, 2^16); a' V = a 2/pi (mod 4) from four exact products.
  Value* ex = e.iadd(e.lshr(e.bits(a), 52), -1023);
  Value* idx = e.imin(e.imax(e.ashr(e.iadd(ex, -47), 4), 0), 5);
  Value* xs = e.mul(a, e.pow2(e.isub(e.ci(-47), e.shl(idx, 4))));
  Value* p[4];
  for (int k = 0; k < 4; ++k) {
    Value* v = e.c(kRemPio2F32Table[k]);
    for (int i = 1; i < 6; ++i) v = e.sel(e.ieq(idx, i), e.c(kRemPio2F32Table[4 * i + k]), v);
    p[k] = e.mul(xs, v);
  }
  // Integer parts off p0 and p1 (exactly), then error-free sums of the fractions.
  Value* i0 = e.rint(p[0]);
  Value* i1 = e.rint(p[1]);
  DD s = e.two_sum(e.sub(p[0], i0), e.sub(p[1], i1));
  Value* is = e.rint(s.hi);
  DD t = e.two_sum(e.sub(s.hi, is), p[2]);
  Value* frac = e.add(t.hi, e.add(e.add(s.lo, t.lo), p[3]));
  Value* quadrant = e.add(e.add(i0, i1), is);  // < 2^42, exact
  Value* qb = e.sub(quadrant, e.mul(e.c(4.0), e.floor(e.mul(quadrant, e.c(0.25)))));
  Value* rb = e.mul(frac, e.c(kPio2_1));
  Value* qa = e.sub(qf, e.mul(e.c(4.0), e.floor(e.mul(qf, e.c(0.25)))));
  Value* use_b = e.ge(a, 0x1p47);
  return {e.to_int(e.sel(use_b, qb, qa)), e.sel(use_b, rb, ra), e.c(0.0)};
}

/// sin(hi + lo), cos(hi + lo) for |hi| <= ~pi/4 as hi + lo; `narrow`: only float accuracy is
/// needed (lo is then 0).
DD sin_poly(Em& e, Value* hi, Value* lo, bool narrow) {
  Value* z = e.mul(hi, hi);
  Value* v = e.mul(z, hi);
  if (narrow) return {e.fma(v, e.poly(z, kSinF32), hi), e.c(0.0)};
  // hi + (v S(z) + lo (1 - z/2))
  Value* tail = e.fma(v, e.poly(z, kSinF64), e.mul(lo, e.fma(z, e.c(-0.5), e.c(1.0))));
  return e.fast_two_sum(hi, tail);
}

DD cos_poly(Em& e, Value* hi, Value* lo, bool narrow) {
  Value* z = e.mul(hi, hi);
  Value* hz = e.mul(z, e.c(0.5));
  Value* w = e.sub(e.c(1.0), hz);
  Value* z2 = e.mul(z, z);
  if (narrow) return {e.fma(z2, e.poly(z, kCosF32), w), e.c(0.0)};
  // w + (((1 - w) - hz) + (z^2 C(z) - hi lo))
  Value* tail = e.add(e.sub(e.sub(e.c(1.0), w), hz), e.fma(z2, e.poly(z, kCosF64), e.neg(e.mul(hi, lo))));
  return e.fast_two_sum(w, tail);
}

enum class Trig { sin, cos, tan };

/// x is double (a widened float when e.narrow).
Value* trig_f64(Em& e, Value* x, Trig which) {
  bool narrow = e.narrow;
  Value* a = e.fabs(x);
  Value* finite = e.lt(a, HUGE_VAL);
  Value* ac = e.sel(finite, a, e.c(0.0));
  Reduced rd = narrow ? rem_pio2_narrow(e, ac) : rem_pio2(e, ac, 1023);
  DD s = sin_poly(e, rd.hi, rd.lo, narrow);
  DD c = cos_poly(e, rd.hi, rd.lo, narrow);
  Value* odd = e.b.CreateICmpNE(e.b.CreateAnd(rd.q, e.ci(1)), e.ci(0));
  Value* y;
  if (which == Trig::tan) {
    // tan = s/c, or -c/s in the odd quadrants; odd in x.
    if (narrow) {
      y = e.div(e.sel(odd, e.neg(c.hi), s.hi), e.sel(odd, s.hi, c.hi));
    } else {
      y = dd_div(e, e.sel(odd, e.neg(c.hi), s.hi), e.sel(odd, e.neg(c.lo), s.lo), e.sel(odd, s.hi, c.hi),
                 e.sel(odd, s.lo, c.lo));
    }
    y = e.xorsign(y, x);
  } else {
    Value* q = which == Trig::cos ? e.iadd(rd.q, 1) : rd.q;
    y = which == Trig::sin ? e.sel(odd, c.hi, s.hi) : e.sel(odd, s.hi, c.hi);
    Value* flip = e.b.CreateICmpNE(e.b.CreateAnd(q, e.ci(2)), e.ci(0));
    y = e.sel(flip, e.neg(y), y);
    if (which == Trig::sin) y = e.xorsign(y, x);  // sin is odd, cos even
  }
  return e.sel(finite, y, e.sub(x, x));  // inf - inf and NaN give NaN
}


// ---------------------------------------------------------------------------------------------
// Inverse trigonometric functions (double).

constexpr double kPio2Hi = 1.57079632679489655800e+00;
constexpr double kPio2Lo = 6.12323399573676603587e-17;
constexpr double kPio4Hi = 7.85398163397448278999e-01;
constexpr double kPio4Lo = 3.06161699786838301793e-17;
constexpr double kPiHi = 3.14159265358979311600e+00;
constexpr double kPiLo = 1.22464679914735320717e-16;

/// atan2(y, x) with C99's special values; atan(x) is atan2(x, 1).
Value* atan2_f64(Em& e, Value* y, Value* x) {
  Value* ay = e.fabs(y);
  Value* ax = e.fabs(x);
  // Only the ratio matters: scale huge pairs down so that ay + ax stays finite, tiny pairs up
  // so that the products below are exact.
  Value* huge = e.either(e.gt(ay, 0x1p1000), e.gt(ax, 0x1p1000));
  Value* tiny = e.both(e.lt(ay, 0x1p-900), e.lt(ax, 0x1p-900));
  Value* sc = e.sel(huge, 0x1p-8, e.sel(tiny, 0x1p600, e.c(1.0)));
  ay = e.mul(ay, sc);
  ax = e.mul(ax, sc);
  // t in [-tan(pi/8), tan(pi/8)] and atan2 = base + atan(t):
  //   ay <= ax tan(pi/8):   t = ay/ax, base 0
  //   ay >= ax tan(3pi/8):  t = -ax/ay, base pi/2
  //   otherwise:            t = (ay - ax)/(ay + ax), base pi/4 (ay - ax carried exactly)
  Value* c1 = e.le(ay, e.mul(ax, e.c(0.41421356237309503)));
  Value* c3 = e.ge(ay, e.mul(ax, e.c(2.4142135623730949)));
  DD d = e.two_sum(ay, e.neg(ax));
  DD s = e.two_sum(ay, ax);
  Value* mid = e.either(c1, c3);
  Value* num = e.sel(c1, ay, e.sel(c3, e.neg(ax), d.hi));
  Value* num_lo = e.sel(mid, e.c(0.0), d.lo);
  Value* den = e.sel(c1, ax, e.sel(c3, ay, s.hi));
  Value* den_lo = e.sel(mid, e.c(0.0), s.lo);
  // t = t_hi + t_lo from an exact division residual.
  Value* t = e.div(num, den);
  Value* rho = e.fma(e.neg(t), den, num);
  Value* t_lo = e.div(e.sub(e.add(rho, num_lo), e.mul(t, den_lo)), den);
  t_lo = e.sel(e.lt(den, HUGE_VAL), t_lo, e.c(0.0));  // x or y infinite: t = 0, no residual
  Value* z = e.mul(t, t);
  Value* at_tail = e.fma(e.mul(t, z), e.poly(z, kAtanF64), t_lo);  // atan(t) = t + at_tail
  Value* base_hi = e.sel(c1, e.c(0.0), e.sel(c3, e.c(kPio2Hi), e.c(kPio4Hi)));
  Value* base_lo = e.sel(c1, e.c(0.0), e.sel(c3, e.c(kPio2Lo), e.c(kPio4Lo)));
  DD head = e.two_sum(base_hi, t);
  Value* r = e.add(head.hi, e.add(head.lo, e.add(at_tail, base_lo)));
  // 0/0 and inf/inf.
  r = e.sel(e.both(e.eq(ay, 0.0), e.eq(ax, 0.0)), e.c(0.0), r);
  r = e.sel(e.both(e.eq(ay, HUGE_VAL), e.eq(ax, HUGE_VAL)), e.c(kPio4Hi), r);
  // Left half plane (sign bit of x, so -0 too): pi - r.
  r = e.sel(e.signbit(x), e.add(e.sub(e.c(kPiHi), r), e.c(kPiLo)), r);
  r = e.copysign(r, y);
  return e.sel(e.either(e.isnan(x), e.isnan(y)), e.add(x, y), r);
}

Value* emit_atan2(Em& e, Value* y, Value* x) { return atan2_f64(e, y, x); }
Value* emit_atan(Em& e, Value* x) { return atan2_f64(e, x, e.c(1.0)); }

struct AsinParts {
  Value* small;  // asin(a) = a + small_tail for a <= 1/2
  Value* small_tail;
  Value* s;      // asin(sqrt(z)) = s + (s_lo + w), z = (1 - a)/2, for a > 1/2
  Value* tail;   // s_lo + w
};

AsinParts asin_parts(Em& e, Value* a) {
  Value* z1 = e.mul(a, a);
  Value* small_tail = e.mul(e.mul(a, z1), e.poly(z1, kAsinF64));
  Value* small = e.add(a, small_tail);
  Value* z = e.mul(e.sub(e.c(1.0), a), e.c(0.5));  // exact for a in [1/2, 1]
  Value* s = e.sqrt(z);
  // sqrt(z) = s + s_lo with s_lo from the exact residual z - s^2.
  Value* s_lo = e.div(e.fma(e.neg(s), s, z), e.add(s, s));
  s_lo = e.sel(e.gt(z, 0.0), s_lo, e.c(0.0));
  Value* w = e.mul(e.mul(s, z), e.poly(z, kAsinF64));
  return {small, small_tail, s, e.add(s_lo, w)};
}

Value* emit_asin(Em& e, Value* x) {
  Value* a = e.fabs(x);
  AsinParts p = asin_parts(e, a);
  // asin(a) = pi/2 - 2 asin(sqrt((1 - a)/2))
  DD head = e.two_sum(e.c(kPio2Hi), e.neg(e.add(p.s, p.s)));
  Value* big = e.add(head.hi, e.add(head.lo, e.sub(e.c(kPio2Lo), e.add(p.tail, p.tail))));
  Value* y = e.copysign(e.sel(e.le(a, 0.5), p.small, big), x);
  return e.sel(e.isnan(x), x, y);  // |x| > 1 gives NaN through the square root
}

Value* emit_acos(Em& e, Value* x) {
  Value* a = e.fabs(x);
  AsinParts p = asin_parts(e, a);
  Value* two_s = e.add(p.s, p.s);
  Value* two_tail = e.add(p.tail, p.tail);
  // |x| <= 1/2: pi/2 - asin(x); x > 1/2: 2 asin(sqrt((1-x)/2)); x < -1/2: pi - that.
  DD mid_head = e.fast_two_sum(e.c(kPio2Hi), e.neg(x));
  Value* mid = e.add(mid_head.hi, e.add(mid_head.lo, e.sub(e.c(kPio2Lo), e.copysign(p.small_tail, x))));
  Value* pos = e.add(two_s, two_tail);
  DD head = e.fast_two_sum(e.c(kPiHi), e.neg(two_s));
  Value* neg = e.add(head.hi, e.add(head.lo, e.sub(e.c(kPiLo), two_tail)));
  Value* y = e.sel(e.le(a, 0.5), mid, e.sel(e.signbit(x), neg, pos));
  return e.sel(e.isnan(x), x, y);
}

// ---------------------------------------------------------------------------------------------
// Hyperbolic functions (double).

/// e^a / 2 as hi + lo for a = |x| (NaN and values past the overflow threshold are capped).
DD half_exp(Em& e, Value* a) {
  Value* ac = e.sel(e.lt(a, 711.0), a, e.c(711.0));
  ExpParts ep = exp_parts(e, ac);
  Value* n = e.iadd(ep.n, -1);
  return {e.scale(ep.p, n), e.scale(ep.lo, n)};
}

Value* emit_sinh(Em& e, Value* x) {
  Value* a = e.fabs(x);
  Value* z = e.mul(a, a);
  Value* small = e.fma(e.mul(a, z), e.poly(z, kSinhF64), a);
  DD h = half_exp(e, a);
  DD head = e.fast_two_sum(h.hi, e.neg(e.div(e.c(0.25), h.hi)));
  Value* big = e.sel(e.lt(h.hi, HUGE_VAL), e.add(head.hi, e.add(head.lo, h.lo)), h.hi);
  Value* y = e.copysign(e.sel(e.lt(a, 1.0), small, big), x);
  return e.sel(e.isnan(x), x, y);
}

Value* emit_cosh(Em& e, Value* x) {
  DD h = half_exp(e, e.fabs(x));
  DD head = e.fast_two_sum(h.hi, e.div(e.c(0.25), h.hi));
  Value* y = e.sel(e.lt(h.hi, HUGE_VAL), e.add(head.hi, e.add(head.lo, h.lo)), h.hi);
  return e.sel(e.isnan(x), x, y);
}

Value* emit_asinh(Em& e, Value* x) {
  Value* a = e.fabs(x);
  Value* one = e.c(1.0);
  // a > 2^28: log(a) + ln2; a > 2: log(2a + 1/(sqrt(a^2+1) + a));
  // otherwise log1p(a + a^2/(1 + sqrt(1 + a^2))).
  Value* a2 = e.mul(a, a);
  Value* root = e.sqrt(e.add(a2, one));
  Value* huge = e.gt(a, 0x1p28);
  Value* v = e.sel(huge, a, e.add(e.add(a, a), e.div(one, e.add(root, a))));
  Value* big = log_core(e, log_domain(e, v), nullptr, e.sel(huge, one, e.c(0.0)));
  DD u = e.fast_two_sum(a, e.div(a2, e.add(one, root)));
  Value* in = e.le(a, 2.0);
  Value* small = log1p_core(e, e.sel(in, u.hi, e.c(0.0)), e.sel(in, u.lo, e.c(0.0)));
  Value* y = e.sel(e.gt(a, 2.0), big, small);
  y = e.sel(e.eq(a, HUGE_VAL), a, y);
  y = e.copysign(y, x);
  return e.sel(e.isnan(x), x, y);
}

Value* emit_acosh(Em& e, Value* x) {
  Value* one = e.c(1.0);
  // x > 2^28: log(x) + ln2; x > 2: log(2x - 1/(x + sqrt(x^2 - 1)));
  // 1 <= x <= 2: log1p(t + sqrt(2t + t^2)), t = x - 1.
  Value* huge = e.gt(x, 0x1p28);
  Value* v = e.sel(huge, x, e.sub(e.add(x, x), e.div(one, e.add(x, e.sqrt(e.fma(x, x, e.c(-1.0)))))));
  Value* big = log_core(e, log_domain(e, v), nullptr, e.sel(huge, one, e.c(0.0)));
  // w = 2t + t^2 = w_hi + w_lo, sqrt(w) = r + r_lo, u = t + r + r_lo.
  Value* t = e.sub(x, one);
  DD t2 = e.two_prod(t, t);
  DD w = e.fast_two_sum(e.add(t, t), t2.hi);
  w.lo = e.add(w.lo, t2.lo);
  Value* r = e.sqrt(w.hi);
  Value* r_lo = e.div(e.add(e.fma(e.neg(r), r, w.hi), w.lo), e.add(r, r));
  DD u = e.fast_two_sum(r, t);
  Value* in = e.both(e.gt(x, 1.0), e.le(x, 2.0));
  Value* small = log1p_core(e, e.sel(in, u.hi, e.c(0.0)), e.sel(in, e.add(u.lo, r_lo), e.c(0.0)));
  Value* y = e.sel(e.gt(x, 2.0), big, small);
  y = e.sel(e.eq(x, HUGE_VAL), x, y);
  y = e.sel(e.lt(x, 1.0), e.c(NAN), y);
  return e.sel(e.isnan(x), x, y);
}

Value* emit_atanh(Em& e, Value* x) {
  Value* a = e.fabs(x);
  Value* one = e.c(1.0);
  // a < 1/2: log1p(2a + 2a^2/(1 - a)) / 2; otherwise log1p(2a/(1 - a)) / 2.
  Value* om = e.sub(one, a);  // exact for a >= 1/2
  Value* two_a = e.add(a, a);
  DD u_small = e.fast_two_sum(two_a, e.div(e.mul(two_a, a), om));
  Value* q = e.div(two_a, om);
  Value* q_lo = e.div(e.fma(e.neg(q), om, two_a), om);
  Value* lt_half = e.lt(a, 0.5);
  Value* u = e.sel(lt_half, u_small.hi, q);
  Value* u_lo = e.sel(lt_half, u_small.lo, q_lo);
  Value* ok = e.lt(a, 1.0);
  Value* y = e.mul(log1p_core(e, e.sel(ok, u, e.c(0.0)), e.sel(ok, u_lo, e.c(0.0))), e.c(0.5));
  y = e.sel(e.eq(a, 1.0), e.c(HUGE_VAL), y);
  y = e.sel(e.gt(a, 1.0), e.c(NAN), y);
  y = e.copysign(y, x);
  return e.sel(e.isnan(x), x, y);
}

// ---------------------------------------------------------------------------------------------
// erf, erfc (double).

/// erfc(a) for a in [0.5, 27.3]: e^(-a^2) K(a) / a with K(a) = a e^(a^2) erfc(a) piecewise
/// polynomial in a - c (first piece) or 1/a - c.
Value* erfc_tail(Em& e, Value* a) {
  Value* in_a = e.lt(a, kErfcBreaks[0]);
  Value* in_b = e.lt(a, kErfcBreaks[1]);
  Value* in_c = e.lt(a, kErfcBreaks[2]);
  auto pick = [&](const double* v, size_t stride) {
    return e.sel(in_a, e.c(v[0]), e.sel(in_b, e.c(v[stride]), e.sel(in_c, e.c(v[2 * stride]), e.c(v[3 * stride]))));
  };
  constexpr size_t kStride = kErfcDegree + 1;
  Value* t = e.sub(e.sel(in_a, a, e.div(e.c(1.0), a)), pick(kErfcCenters, 1));
  Value* q = pick(&kErfcCoeffs[0][kErfcDegree], kStride);
  for (int k = kErfcDegree - 1; k >= 1; --k) q = e.fma(q, t, pick(&kErfcCoeffs[0][k], kStride));
  DD k_val = e.fast_two_sum(pick(&kErfcCoeffs[0][0], kStride), e.fma(t, q, pick(kErfcC0Lo, 1)));
  // e^(-a^2) = (p + lo) 2^n with a^2 carried exactly; one rounding for (p + lo) K / a.
  DD sq = e.two_prod(a, a);
  ExpParts ep = exp_parts(e, e.neg(sq.hi), e.neg(sq.lo));
  DD num = e.two_prod(ep.p, k_val.hi);
  num.lo = e.fma(ep.lo, k_val.hi, e.fma(ep.p, k_val.lo, num.lo));
  return e.scale(dd_div(e, num.hi, num.lo, a, e.c(0.0)), ep.n);
}

/// erf(a) - a = a R(a^2) for a < 0.84375, as hi + lo: R = c0 + z q(z) cancels to a third of
/// c0 near the top of the range, so z, z q and a R are carried in double-double.
DD erf_small_tail(Em& e, Value* a) {
  DD z = e.two_prod(a, a);
  Value* q = e.poly(z.hi, Coeffs(kErfF64).drop_front());
  DD zq = e.two_prod(z.hi, q);
  DD r = e.two_sum(e.c(kErfF64[0]), zq.hi);
  Value* r_lo = e.add(r.lo, e.fma(z.lo, q, e.add(zq.lo, e.c(kErfC0Lo))));
  DD ar = e.two_prod(a, r.hi);
  return {ar.hi, e.fma(a, r_lo, ar.lo)};
}

/// float erf in float arithmetic (erf rounds to 1 beyond 3.92).
Value* erf_f32(Em& e, Value* x) {
  Value* a = e.fabs(x);
  Value* small = e.fma(a, e.poly(e.mul(a, a), kErfF32), a);
  Value* ac = e.sel(e.lt(a, 0.875), e.c(0.875), e.sel(e.lt(a, 3.93), a, e.c(3.93)));
  ExpParts ep = exp_parts(e, e.poly(e.sub(ac, e.c(0.875)), kErfcLogF32));
  Value* ec = e.scale(ep.p, ep.n);
  DD h = e.two_sum(e.c(1.0), e.neg(ec));
  Value* big = e.sub(h.hi, e.sub(e.scale(ep.lo, ep.n), h.lo));
  Value* y = e.copysign(e.sel(e.lt(a, 0.875), small, big), x);
  return e.sel(e.isnan(x), x, y);
}

Value* emit_erf(Em& e, Value* x) {
  if (!e.f64) return erf_f32(e, x);
  Value* a = e.fabs(x);
  DD r = erf_small_tail(e, a);
  DD head = e.fast_two_sum(a, r.hi);
  Value* small = e.add(head.hi, e.add(head.lo, r.lo));
  Value* ac = e.sel(e.lt(a, 0.84375), e.c(0.84375), e.sel(e.lt(a, 6.0), a, e.c(6.0)));
  Value* big = e.sub(e.c(1.0), erfc_tail(e, ac));
  Value* y = e.copysign(e.sel(e.lt(a, 0.84375), small, big), x);
  return e.sel(e.isnan(x), x, y);
}

Value* emit_erfc(Em& e, Value* x) {
  Value* a = e.fabs(x);
  Value* one = e.c(1.0);
  // a < 1/2: 1 - erf(x) from erf's series, as 1 - (a + r) for a < 1/4 and 1/2 - ((a - 1/2) + r)
  // (1/2 - hi exact) above; beyond: e^(-a^2) K(a) / a, and 2 - that for negative x.
  DD r = erf_small_tail(e, a);  // erf(a) = a + r.hi + r.lo
  DD h = e.two_sum(e.sub(a, e.c(0.5)), r.hi);
  Value* erf_a = e.add(a, e.add(r.hi, r.lo));
  Value* small_pos = e.sel(e.lt(a, 0.25), e.sub(one, erf_a), e.sub(e.sub(e.c(0.5), h.hi), e.add(h.lo, r.lo)));
  Value* small_neg = e.add(one, erf_a);
  Value* ac = e.sel(e.lt(a, 0.5), e.c(0.5), e.sel(e.lt(a, 27.3), a, e.c(27.3)));
  Value* tail = erfc_tail(e, ac);
  Value* neg = e.lt(x, 0.0);
  Value* big = e.sel(neg, e.sub(e.c(2.0), tail), tail);
  Value* y = e.sel(e.lt(a, 0.5), e.sel(neg, small_neg, small_pos), big);
  y = e.sel(e.gt(x, 27.3), e.c(0.0), y);
  return e.sel(e.isnan(x), x, y);
}

// ---------------------------------------------------------------------------------------------
// pow, cbrt (double).

/// log(x) as hi + lo to about 2^-68 relative, for x > 0 finite.
DD log_dd(Em& e, Value* x) {
  LogParts lp = log_parts(e, x);
  Value* f = lp.f;
  Value* two = e.c(2.0);
  // s = f / (2 + f) as s_hi + s_lo; 2 + f = d_hi + d_lo exactly.
  DD d = e.fast_two_sum(two, f);
  Value* s_hi = e.div(f, d.hi);
  Value* resid = e.fma(e.neg(s_hi), d.hi, f);  // exact
  Value* s_lo = e.div(e.sub(resid, e.mul(s_hi, d.lo)), d.hi);
  // log(1+f) = 2s + (2/3) s^3 + s^3 z W(z): the first two terms in double-double.
  DD z = e.two_prod(s_hi, s_hi);
  z.lo = e.fma(e.add(s_hi, s_hi), s_lo, z.lo);
  DD cube = e.two_prod(s_hi, z.hi);
  cube.lo = e.add(cube.lo, e.fma(s_hi, z.lo, e.mul(s_lo, z.hi)));
  constexpr double kTwoThirdsHi = 0.66666666666666663;
  constexpr double kTwoThirdsLo = 3.7007434154171883e-17;
  DD t = e.two_prod(cube.hi, e.c(kTwoThirdsHi));
  t.lo = e.add(t.lo, e.fma(cube.hi, e.c(kTwoThirdsLo), e.mul(cube.lo, e.c(kTwoThirdsHi))));
  Value* u = e.mul(e.mul(cube.hi, z.hi), e.poly(z.hi, kPowLogF64));
  DD sum = e.fast_two_sum(e.add(s_hi, s_hi), t.hi);
  Value* lo = e.add(sum.lo, e.add(e.add(e.add(s_lo, s_lo), t.lo), u));
  // + k ln2, k ln2_hi exact.
  DD kl = e.two_sum(e.mul(lp.k, e.c(kLn2HiF64)), sum.hi);
  lo = e.add(kl.lo, e.fma(lp.k, e.c(kLn2LoF64), lo));
  return e.fast_two_sum(kl.hi, lo);
}

Value* emit_pow(Em& e, Value* x, Value* y) {
  Value* one = e.c(1.0);
  Value* zero = e.c(0.0);
  Value* inf = e.c(HUGE_VAL);
  Value* ax = e.fabs(x);
  // |x|^y = exp(y log|x|), with log|x| and the product in double-double.
  Value* ax1 = e.sel(e.both(e.gt(ax, 0.0), e.lt(ax, HUGE_VAL)), ax, one);
  Value* y1 = e.sel(e.isfinite(y), y, zero);
  DD z;
  if (e.narrow) {  // widened floats: |y log|x|| < 2^7, so double's 2^-52 is plenty
    z = {e.mul(y1, log_core(e, ax1)), e.c(0.0)};
  } else {
    DD l = log_dd(e, ax1);
    z = e.two_prod(y1, l.hi);
    z.lo = e.fma(y1, l.lo, z.lo);
  }
  Value* out = e.either(e.gt(z.hi, 710.0), e.lt(z.hi, -746.0));  // also +-inf products
  Value* zh = e.clamp(z.hi, -746.0, 710.0);
  Value* zl = e.sel(out, zero, z.lo);
  ExpParts ep = exp_parts(e, zh, zl);
  Value* mag = e.scale(e.add(ep.p, ep.lo), ep.n);

  Value* y_int = e.eq(e.rint(y), y);
  Value* half = e.mul(y, e.c(0.5));
  Value* y_odd = e.both(e.both(y_int, e.lt(e.fabs(y), 0x1p53)), e.b.CreateFCmpONE(e.rint(half), half));
  Value* x_neg = e.signbit(x);
  Value* y_neg = e.lt(y, 0.0);
  // Negative finite x: odd y flips the sign, non-integer y is NaN.
  Value* res = e.sel(e.lt(x, 0.0), e.sel(y_odd, e.neg(mag), e.sel(y_int, mag, e.c(NAN))), mag);
  // x = +-0: y < 0 gives inf (signed for odd y), y > 0 gives 0 (signed for odd y).
  Value* zero_res = e.sel(y_neg, e.sel(y_odd, e.copysign(inf, x), inf), e.sel(y_odd, x, zero));
  res = e.sel(e.eq(x, 0.0), zero_res, res);
  // x = +-inf: y < 0 gives 0, y > 0 inf, negative for -inf and odd y.
  Value* neg_odd = e.both(x_neg, y_odd);
  Value* inf_res = e.sel(y_neg, e.sel(neg_odd, e.c(-0.0), zero), e.sel(neg_odd, e.c(-HUGE_VAL), inf));
  res = e.sel(e.isinf(x), inf_res, res);
  // y = +-inf: 1 for |x| = 1, else inf when (|x| > 1) == (y > 0), 0 otherwise.
  Value* grows = e.b.CreateICmpEQ(e.gt(ax, 1.0), e.gt(y, 0.0));
  Value* yinf_res = e.sel(e.eq(ax, 1.0), one, e.sel(grows, inf, zero));
  res = e.sel(e.isinf(y), yinf_res, res);
  res = e.sel(e.either(e.isnan(x), e.isnan(y)), e.add(x, y), res);
  return e.sel(e.either(e.eq(y, 0.0), e.eq(x, 1.0)), one, res);
}

Value* emit_cbrt(Em& e, Value* x) {
  Value* a = e.fabs(x);
  // Subnormals: scale by 2^54 (cube root 2^18); huge values by 2^-54 so that t^3 stays finite.
  Value* sub = e.lt(a, DBL_MIN);
  Value* huge = e.gt(a, 0x1p1000);
  Value* as = e.mul(a, e.sel(sub, e.c(0x1p54), e.sel(huge, e.c(0x1p-54), e.c(1.0))));
  // A 5-bit first guess from the exponent bits (the high word divided by 3).
  llvm::Type* i32 = e.like(e.b.getInt32Ty());
  Value* hi = e.b.CreateTrunc(e.lshr(e.bits(as), 32), i32);
  Value* third = e.b.CreateZExt(e.b.CreateUDiv(hi, llvm::ConstantInt::get(i32, 3)), e.ity);
  Value* t = e.from_bits(e.shl(e.iadd(third, 715094163), 32));  // (1023 - 1023/3 - 0.033) 2^20
  // Two Halley steps (5 -> 15 -> 45 bits), then one Newton step with an exact residual.
  for (int i = 0; i < 2; ++i) {
    Value* t3 = e.mul(e.mul(t, t), t);
    t = e.mul(t, e.div(e.add(t3, e.add(as, as)), e.add(e.add(t3, t3), as)));
  }
  DD t2 = e.two_prod(t, t);
  DD t3 = e.two_prod(t2.hi, t);
  t3.lo = e.fma(t2.lo, t, t3.lo);
  Value* resid = e.sub(e.sub(as, t3.hi), t3.lo);
  t = e.add(t, e.div(resid, e.mul(e.c(3.0), t2.hi)));
  t = e.mul(t, e.sel(sub, e.c(0x1p-18), e.sel(huge, e.c(0x1p18), e.c(1.0))));
  Value* y = e.copysign(t, x);
  Value* special = e.either(e.eq(a, 0.0), e.b.CreateFCmpUGE(a, e.c(HUGE_VAL)));  // 0, inf, NaN
  return e.sel(special, x, y);
}

// ---------------------------------------------------------------------------------------------
// Dispatch.

enum class F32Mode {
  native,  // float arithmetic
  widen,   // evaluated in double, rounded once
};

struct MathFn {
  std::string_view name;
  int arity;
  F32Mode f32;
  Value* (*unary)(Em&, Value*);
  Value* (*binary)(Em&, Value*, Value*);
};

Value* emit_sin(Em& e, Value* x) { return trig_f64(e, x, Trig::sin); }
Value* emit_cos(Em& e, Value* x) { return trig_f64(e, x, Trig::cos); }
Value* emit_tan(Em& e, Value* x) { return trig_f64(e, x, Trig::tan); }

constexpr MathFn kFunctions[] = {
    {"exp", 1, F32Mode::native, emit_exp, nullptr},
    {"exp2", 1, F32Mode::native, emit_exp2, nullptr},
    {"expm1", 1, F32Mode::native, emit_expm1, nullptr},
    {"log", 1, F32Mode::native, emit_log, nullptr},
    {"log2", 1, F32Mode::native, emit_log2, nullptr},
    {"log1p", 1, F32Mode::native, emit_log1p, nullptr},
    {"tanh", 1, F32Mode::native, emit_tanh, nullptr},
    {"logistic", 1, F32Mode::native, emit_logistic, nullptr},
    {"sin", 1, F32Mode::widen, emit_sin, nullptr},
    {"cos", 1, F32Mode::widen, emit_cos, nullptr},
    {"tan", 1, F32Mode::widen, emit_tan, nullptr},
    {"atan", 1, F32Mode::widen, emit_atan, nullptr},
    {"atan2", 2, F32Mode::widen, nullptr, emit_atan2},
    {"asin", 1, F32Mode::widen, emit_asin, nullptr},
    {"acos", 1, F32Mode::widen, emit_acos, nullptr},
    {"sinh", 1, F32Mode::widen, emit_sinh, nullptr},
    {"cosh", 1, F32Mode::widen, emit_cosh, nullptr},
    {"asinh", 1, F32Mode::widen, emit_asinh, nullptr},
    {"acosh", 1, F32Mode::widen, emit_acosh, nullptr},
    {"atanh", 1, F32Mode::widen, emit_atanh, nullptr},
    {"erf", 1, F32Mode::native, emit_erf, nullptr},
    {"erfc", 1, F32Mode::widen, emit_erfc, nullptr},
    {"pow", 2, F32Mode::widen, nullptr, emit_pow},
    {"cbrt", 1, F32Mode::widen, emit_cbrt, nullptr},
};

const MathFn* find_fn(std::string_view name) {
  for (const MathFn& f : kFunctions)
    if (f.name == name) return &f;
  return nullptr;
}

}  // namespace

int math_arity(std::string_view fn) {
  const MathFn* f = find_fn(fn);
  return f ? f->arity : 0;
}

llvm::Value* emit_math(llvm::IRBuilder<>& b, std::string_view fn, llvm::ArrayRef<llvm::Value*> args) {
  const MathFn* f = find_fn(fn);
  if (!f || static_cast<int>(args.size()) != f->arity) return nullptr;
  llvm::Type* ty = args[0]->getType();
  if (llvm::isa<llvm::ScalableVectorType>(ty)) return nullptr;
  llvm::Type* elem = ty->getScalarType();
  if (!elem->isFloatTy() && !elem->isDoubleTy()) return nullptr;
  for (llvm::Value* a : args)
    if (a->getType() != ty) return nullptr;

  bool widen = elem->isFloatTy() && f->f32 == F32Mode::widen;
  llvm::Type* work = ty;
  if (widen) {
    auto* v = llvm::dyn_cast<llvm::VectorType>(ty);
    work = v ? llvm::VectorType::get(b.getDoubleTy(), v->getElementCount()) : b.getDoubleTy();
  }
  Em e(b, work, widen);
  std::vector<llvm::Value*> xs(args.begin(), args.end());
  if (widen)
    for (llvm::Value*& x : xs) x = b.CreateFPExt(x, work);
  llvm::Value* y = f->arity == 1 ? f->unary(e, xs[0]) : f->binary(e, xs[0], xs[1]);
  return widen ? b.CreateFPTrunc(y, ty) : y;
}

}  // namespace jx::llvmgen
