#pragma once
// nnlib: randomness, initializers, stateless modules, losses, optimizers, checkpoints and a
// training loop helper (namespaces jx::random, jx::nn, jx::optim).

#include "nnlib/checkpoint.h"
#include "nnlib/fit.h"
#include "nnlib/init.h"
#include "nnlib/losses.h"
#include "nnlib/module.h"
#include "nnlib/optim.h"
#include "nnlib/random.h"
