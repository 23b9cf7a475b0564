// Inference allocates nothing: the global operator new and delete of this test program are
// replaced by counting versions, and the count must not move during Net::forward(x) and
// Net::predict(x) on one image, nor during mini-batch forward/backward/update steps.
// The Net, the Workspace and the optimizers allocate once, at construction; the first test
// checks that such allocations are counted, so that a zero means something. (OpenMP's runtime
// allocates its thread team with malloc, not operator new: that is outside the count.)
#include <doctest/doctest.h>

#include <atomic>
#include <cstddef>
#include <cstdlib>
#include <new>

#include <ctnn/ctnn.hpp>

// The replacements below free with std::free what counted_allocation took with std::malloc;
// g++ cannot see that pairing through the replaced operators and warns at -O1 and above.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace {
std::atomic<std::size_t> allocations{0};

void* counted_allocation(std::size_t size, std::size_t alignment) {
  ++allocations;
  if (size == 0) size = 1;
  void* pointer = nullptr;
  if (alignment <= alignof(std::max_align_t))
    pointer = std::malloc(size);
  else if (posix_memalign(&pointer, alignment, size) != 0)
    pointer = nullptr;
  if (!pointer) throw std::bad_alloc();
  return pointer;
}
}  // namespace

void* operator new(std::size_t size) { return counted_allocation(size, 0); }
void* operator new[](std::size_t size) { return counted_allocation(size, 0); }
void* operator new(std::size_t size, std::align_val_t alignment) {
  return counted_allocation(size, static_cast<std::size_t>(alignment));
}
void* operator new[](std::size_t size, std::align_val_t alignment) {
  return counted_allocation(size, static_cast<std::size_t>(alignment));
}
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
  try {
    return counted_allocation(size, 0);
  } catch (...) {
    return nullptr;
  }
}
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept {
  try {
    return counted_allocation(size, 0);
  } catch (...) {
    return nullptr;
  }
}
void* operator new(std::size_t size, std::align_val_t alignment, const std::nothrow_t&) noexcept {
  try {
    return counted_allocation(size, static_cast<std::size_t>(alignment));
  } catch (...) {
    return nullptr;
  }
}
void* operator new[](std::size_t size, std::align_val_t alignment, const std::nothrow_t&) noexcept {
  try {
    return counted_allocation(size, static_cast<std::size_t>(alignment));
  } catch (...) {
    return nullptr;
  }
}
void operator delete(void* pointer) noexcept { std::free(pointer); }
void operator delete[](void* pointer) noexcept { std::free(pointer); }
void operator delete(void* pointer, std::size_t) noexcept { std::free(pointer); }
void operator delete[](void* pointer, std::size_t) noexcept { std::free(pointer); }
void operator delete(void* pointer, std::align_val_t) noexcept { std::free(pointer); }
void operator delete[](void* pointer, std::align_val_t) noexcept { std::free(pointer); }
void operator delete(void* pointer, std::size_t, std::align_val_t) noexcept { std::free(pointer); }
void operator delete[](void* pointer, std::size_t, std::align_val_t) noexcept { std::free(pointer); }
void operator delete(void* pointer, const std::nothrow_t&) noexcept { std::free(pointer); }
void operator delete[](void* pointer, const std::nothrow_t&) noexcept { std::free(pointer); }
void operator delete(void* pointer, std::align_val_t, const std::nothrow_t&) noexcept { std::free(pointer); }
void operator delete[](void* pointer, std::align_val_t, const std::nothrow_t&) noexcept { std::free(pointer); }

namespace {
using LeNet = ctnn::Net<ctnn::Conv<6, 5>, ctnn::MaxPool<2>, ctnn::Conv<16, 5>, ctnn::Dense<120>,
                        ctnn::Dense<10>>::bind<ctnn::Shape<1, 28, 28>>;
using Regularized = ctnn::Net<ctnn::Input<1, 12, 12>, ctnn::Conv<4, 3>, ctnn::BatchNorm<>, ctnn::ReLU, ctnn::AvgPool<2>,
                              ctnn::Dropout<>, ctnn::Dense<16, ctnn::Tanh>, ctnn::Dense<10>>;

template <class Shape>
void fill(ctnn::tensor_of<Shape>& x, std::uint64_t seed) {
  ctnn::Rng rng(seed);
  for (std::size_t i = 0; i < Shape::size; ++i) x[i] = rng.uniform();
}
}  // namespace

TEST_CASE("Allocation: the counter sees what the library allocates") {
  const std::size_t before = allocations.load();
  auto net = std::make_unique<LeNet>(1);  // parameters and inference buffers: heap blocks
  CHECK(allocations.load() >= before + 3);
}

TEST_CASE("Allocation: forward(x) and predict(x) on one image allocate nothing") {
  LeNet net(1);
  auto x = std::make_unique<ctnn::tensor_of<LeNet::in_shape>>();
  fill<LeNet::in_shape>(*x, 2);
  const std::size_t before = allocations.load();  // no warm-up: the first call allocates nothing either
  float checksum = 0;
  for (int repeat = 0; repeat < 3; ++repeat) checksum += net.forward(*x)[repeat];
  const std::size_t predicted = net.predict(*x);
  const std::size_t after = allocations.load();
  CHECK(after - before == 0);
  CHECK(predicted < 10);
  CHECK(std::isfinite(checksum));
  // The thread-safe overload with a caller's buffer, too.
  auto buffers = std::make_unique<LeNet::Inference>();
  const std::size_t before_shared = allocations.load();
  const auto& logits = std::as_const(net).forward(*x, *buffers);
  const std::size_t after_shared = allocations.load();  // read before CHECK: doctest may allocate
  CHECK(after_shared - before_shared == 0);
  CHECK(logits == net.forward(*x));
}

TEST_CASE("Allocation: a training step allocates nothing once the workspace and optimizers exist") {
  Regularized net(3);
  ctnn::Workspace<Regularized, 8> ws;
  ctnn::Sgd<Regularized> sgd(net, {.learning_rate = 0.01f, .momentum = 0.9f});
  ctnn::Adam<Regularized> adam(net);
  for (std::size_t b = 0; b < 8; ++b) {
    fill<Regularized::in_shape>(ws.input(b), 10 + b);
    ws.labels[b] = b % 10;
  }
  const auto step = [&] {
    net.forward(ws, ctnn::Mode::train);
    ws.zero_grad();
    net.backward(ws);
    sgd.update(net, ws.grad());
    adam.update(net, ws.grad());
    net.input_gradient(ws);
    net.forward(ws, ctnn::Mode::eval);
  };
  // No warm-up of ours: even the first step (each thread's first scratch) allocates nothing
  // through operator new. The OpenMP runtime's own start-up is not ours: LLVM's libomp loads its
  // OMPT tool (libarcher) at the first parallel region, which allocates with operator new.
#ifdef _OPENMP
#pragma omp parallel
  { (void)0; }
#endif
  const std::size_t before = allocations.load();
  for (int repeat = 0; repeat < 3; ++repeat) {
    ws.seed = static_cast<std::uint64_t>(repeat);
    step();
  }
  const std::size_t after = allocations.load();
  CHECK(after - before == 0);
  fill<Regularized::in_shape>(ws.input(0), 99);
  const std::size_t before_single = allocations.load();
  const std::size_t predicted = net.predict(ws.input(0));
  const std::size_t after_single = allocations.load();
  CHECK(after_single - before_single == 0);
  CHECK(predicted < 10);
}
