// Reading a handwritten number (a cheque amount, a postcode): the ink is cut into its digits,
// left to right, and each digit is then prepared alone like a single digit (digit_preparation.hpp).
// Both segmenters work on the ink of the whole image (extract_ink, so every digit shares one
// paper and ink level) and share steps 1, 2 and 5:
//  1. Components: the ink above the threshold, 8-connected; those smaller than speck_fraction of
//     the largest are specks and are dropped.
//  2. Merge: components whose column ranges overlap by at least merge_overlap of the narrower
//     one's width belong to one digit (a broken stroke, a 5's lifted bar, a 7's crossbar),
//     repeatedly, so chains join too. Then fragments, groups shorter than fragment_height of the
//     typical (median) height, join the group they overlap most or the nearest one within
//     merge_gap of the typical height.
//  3. Cut. A cut is the path from top to bottom through the fewest ink pixels that starts at a
//     given column and wanders at most cut_slant of the typical height sideways: touching digits
//     are joined by a stroke or two that it crosses, and digits that lean into each other are
//     parted along a slant where no straight cut exists.
//     segment_digits, by shape alone: a group wider than max_digit_aspect times its height holds
//     touching digits, as many as its width over digit_aspect times its height (at least 2); each
//     cut starts at the cheapest column within a quarter of a digit's width of the even cut.
//     segment_digits_by_recognition, after LeCun et al. (1998, section V, heuristic
//     over-segmentation): every group wider than min_cut_aspect of the typical height is cut at
//     every local minimum of the path cost, min_piece_aspect of the typical height apart, which
//     gives more pieces than digits; dynamic programming then picks the reading, each digit a run
//     of neighbouring pieces, that maximizes the sum of the caller's score (a classifier's log
//     probability) minus the log-prior costs below.
//  4. Order: by the centre of each digit's box, left to right.
//  5. Ink: each digit keeps its own pixels and the anti-aliased edge next to them; the rest of
//     its box is paper, so a neighbour reaching into the box does not leak into the digit.
// Limits: one line of digits; no separators (a decimal point or comma larger than a speck is
// read as a digit); by shape alone, touching digits narrower together than max_digit_aspect
// times their height (two 1s) stay one piece. Measured on numbers composed from MNIST test
// digits: examples/read_number --compose.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string_view>
#include <utility>
#include <vector>

#include <ctnn/data/digit_preparation.hpp>
#include <ctnn/io/image.hpp>

namespace ctnn {

struct SegmentationOptions {
  float ink_threshold = 0.5f;    // as DigitPreparationOptions::ink_threshold
  float speck_fraction = 0.02f;  // components below this fraction of the largest one's area are specks
  float merge_overlap = 0.5f;    // column overlap, as a fraction of the narrower width, that merges
  float fragment_height = 0.5f;  // groups shorter than this fraction of the typical height are fragments
  float merge_gap = 0.2f;        // fragments and pieces join across gaps up to this fraction of it
  float cut_slant = 0.1f;        // a cut wanders sideways at most this fraction of the typical height
  // By shape: MNIST's digit boxes (training set, width over height) have a median of 0.4 for a 1
  // and 0.7-1.0 for the others, and a 90th percentile of at most 1.25 (a 5). A group wider than
  // max_digit_aspect is split into its width over digit_aspect pieces.
  float max_digit_aspect = 1.3f;
  float digit_aspect = 0.8f;
  // By recognition: which groups are cut and how far apart the cuts are, as fractions of the
  // typical height, and how many pieces and how wide a digit may be.
  float min_cut_aspect = 0.7f;
  float min_piece_aspect = 0.25f;
  std::size_t max_pieces_per_digit = 8;
  float max_digit_run_aspect = 1.6f;
  // Log-prior costs of a reading, against the score's log-probabilities: join_cost for each
  // digit made of pieces of different components, and for a digit shorter than min_height of the
  // typical height, (log(height / (min_height * typical)) / height_spread)^2 / 2, since the
  // digits of one number are about equally tall and a sliver of a digit is not. Tuned on numbers
  // composed with seed 2 (the reported figures use seed 1).
  float join_cost = 2.0f;
  float min_height = 0.7f;
  float height_spread = 0.15f;
};

// One digit of a number.
struct DigitSegment {
  InkBox box;                  // in the image
  GrayImage ink;               // box-sized: the digit's own ink, paper elsewhere
  std::size_t components = 0;  // ink components it holds part of
  bool split = false;          // cut out of a group of touching digits
};

namespace detail {

// Components that belong together (step 2), and where the group is cut (step 3).
struct InkGroup {
  InkBox box;
  std::vector<std::uint32_t> labels;  // member components
  // Each cut is a path from top to bottom: per row of the box, the column (from the box's left)
  // where the next piece starts.
  std::vector<std::vector<std::size_t>> cuts;
};

inline std::ptrdiff_t column_overlap(const InkBox& a, const InkBox& b) noexcept {
  return static_cast<std::ptrdiff_t>(std::min(a.right(), b.right())) -
         static_cast<std::ptrdiff_t>(std::max(a.left, b.left));
}

inline void merge_group(std::vector<InkGroup>& groups, std::size_t into, std::size_t from) {
  groups[into].box = box_union(groups[into].box, groups[from].box);
  groups[into].labels.insert(groups[into].labels.end(), groups[from].labels.begin(), groups[from].labels.end());
  groups.erase(groups.begin() + static_cast<std::ptrdiff_t>(from));
}

// The median height of the groups: the height of the number's digits.
inline float typical_height(const std::vector<InkGroup>& groups) {
  if (groups.empty()) return 0;
  std::vector<std::size_t> heights;
  for (const auto& group : groups) heights.push_back(group.box.height);
  std::nth_element(heights.begin(), heights.begin() + static_cast<std::ptrdiff_t>(heights.size() / 2), heights.end());
  return static_cast<float>(heights[heights.size() / 2]);
}

// Steps 1 and 2: specks dropped, components merged by column overlap, then fragments (groups
// shorter than fragment_height of the typical height: a lifted bar, a broken-off tail) merged
// into the group they overlap most, or else the nearest within merge_gap of the typical height.
inline std::vector<InkGroup> merged_groups(const InkComponents& components, const SegmentationOptions& options) {
  std::size_t largest = 0;
  for (const auto& component : components.components) largest = std::max(largest, component.area);
  std::vector<InkGroup> groups;
  for (std::size_t k = 0; k < components.components.size(); ++k) {
    const auto& component = components.components[k];
    if (static_cast<float>(component.area) >= options.speck_fraction * static_cast<float>(largest))
      groups.push_back({component.box, {static_cast<std::uint32_t>(k + 1)}, {}});
  }
  for (bool merged = true; merged;) {
    merged = false;
    for (std::size_t i = 0; i < groups.size() && !merged; ++i)
      for (std::size_t j = i + 1; j < groups.size() && !merged; ++j) {
        const auto narrower = static_cast<float>(std::min(groups[i].box.width, groups[j].box.width));
        if (static_cast<float>(column_overlap(groups[i].box, groups[j].box)) >= options.merge_overlap * narrower) {
          merge_group(groups, i, j);
          merged = true;
        }
      }
  }
  const float height = typical_height(groups);
  for (bool merged = true; merged && groups.size() > 1;) {
    merged = false;
    for (std::size_t i = 0; i < groups.size() && !merged; ++i) {
      if (static_cast<float>(groups[i].box.height) >= options.fragment_height * height) continue;
      std::size_t best = i;
      float best_overlap = -options.merge_gap * height;
      for (std::size_t j = 0; j < groups.size(); ++j) {
        const auto overlap = static_cast<float>(column_overlap(groups[i].box, groups[j].box));
        if (j != i && overlap >= best_overlap) {
          best = j;
          best_overlap = overlap;
        }
      }
      if (best == i) continue;
      merge_group(groups, std::min(i, best), std::max(i, best));
      merged = true;
    }
  }
  return groups;
}

// The group of each component label (0 for specks and paper).
inline std::vector<std::uint32_t> group_of_labels(const InkComponents& components,
                                                  const std::vector<InkGroup>& groups) {
  std::vector<std::uint32_t> group_of(components.components.size() + 1, 0);
  for (std::size_t g = 0; g < groups.size(); ++g)
    for (const std::uint32_t label : groups[g].labels) group_of[label] = static_cast<std::uint32_t>(g + 1);
  return group_of;
}

// Where a group can be cut: for each column c, the top-to-bottom path from row 0 at c that moves
// at most one column per row and stays within `band` columns of c, crossing the fewest strokes.
// A path pays 1 for each stroke it enters, 0.01 for each ink pixel it runs along and 0.005 for
// each sideways step, so among paths through as many strokes the shorter run and then the
// straighter line win. Counting strokes rather than pixels matters for round digits: two 0s
// touching at their sides meet in one thick stroke, where a straight cut down the middle of a 0
// crosses two thin ones with fewer pixels. Digits that lean into each other are parted along a
// slant where no straight cut is clean.
struct CutPaths {
  std::vector<double> cost;                     // per start column
  std::vector<std::vector<std::size_t>> paths;  // per start column, the column in each row
};

inline CutPaths cut_paths(const InkComponents& components, const std::vector<std::uint32_t>& group_of,
                          const InkGroup& group, std::size_t g, std::size_t band) {
  const std::size_t height = group.box.height, width = group.box.width;
  std::vector<std::uint8_t> ink(height * width);
  for (std::size_t r = 0; r < height; ++r)
    for (std::size_t c = 0; c < width; ++c)
      ink[r * width + c] = group_of[components.label(group.box.top + r, group.box.left + c)] == g + 1;
  constexpr double stroke_cost = 1, pixel_cost = 0.01, step_cost = 0.005;
  CutPaths result{std::vector<double>(width), std::vector<std::vector<std::size_t>>(width)};
  const std::size_t span = 2 * band + 1;
  std::vector<double> cost(span), next(span);
  std::vector<std::uint8_t> from(height * span);  // 0: up-left, 1: up, 2: up-right
  for (std::size_t start = 0; start < width; ++start) {
    // Window columns start - band .. start + band; those outside the group's box are blocked.
    const auto column = [&](std::size_t j) {
      return static_cast<std::ptrdiff_t>(start + j) - static_cast<std::ptrdiff_t>(band);
    };
    const auto inside = [&](std::size_t j) { return column(j) >= 0 && column(j) < static_cast<std::ptrdiff_t>(width); };
    const auto ink_at = [&](std::size_t r, std::size_t j) {
      return inside(j) && ink[r * width + static_cast<std::size_t>(column(j))];
    };
    constexpr double blocked = std::numeric_limits<double>::infinity();
    const auto enter = [&](std::size_t r, std::size_t j, std::size_t from_j) {
      if (!inside(j)) return blocked;
      if (!ink_at(r, j)) return 0.0;
      return pixel_cost + (r == 0 || !ink_at(r - 1, from_j) ? stroke_cost : 0.0);
    };
    for (std::size_t j = 0; j < span; ++j) cost[j] = j == band ? enter(0, j, j) : blocked;
    for (std::size_t r = 1; r < height; ++r) {
      for (std::size_t j = 0; j < span; ++j) {
        double best = cost[j] + enter(r, j, j);
        std::uint8_t move = 1;
        if (j > 0 && cost[j - 1] + step_cost + enter(r, j, j - 1) < best) {
          best = cost[j - 1] + step_cost + enter(r, j, j - 1);
          move = 0;
        }
        if (j + 1 < span && cost[j + 1] + step_cost + enter(r, j, j + 1) < best) {
          best = cost[j + 1] + step_cost + enter(r, j, j + 1);
          move = 2;
        }
        next[j] = best;
        from[r * span + j] = move;
      }
      std::swap(cost, next);
    }
    std::size_t end = band;
    for (std::size_t j = 0; j < span; ++j)
      if (cost[j] < cost[end]) end = j;
    result.cost[start] = cost[end];
    auto& path = result.paths[start];
    path.resize(height);
    for (std::size_t r = height; r-- > 0;) {
      path[r] = static_cast<std::size_t>(column(end));
      if (r > 0) end = end + from[r * span + end] - 1;
    }
  }
  return result;
}

// Step 3 by shape alone: `count` pieces, each cut where the cheapest path starts within a quarter
// of a piece's width of the even cut; returns the start columns.
inline std::vector<std::size_t> even_cuts(const std::vector<double>& profile, std::size_t count) {
  std::vector<std::size_t> cuts;
  const double piece = static_cast<double>(profile.size()) / static_cast<double>(count);
  for (std::size_t k = 1; k < count; ++k) {
    const double even = piece * static_cast<double>(k);
    const auto first = static_cast<std::size_t>(std::max(1.0, std::ceil(even - piece / 4)));
    const auto last = std::min(profile.size() - 1, static_cast<std::size_t>(std::floor(even + piece / 4)));
    auto best = static_cast<std::size_t>(std::lround(even));
    for (std::size_t c = first; c <= last; ++c) {
      const bool fewer = profile[c] < profile[best];
      const bool nearer = std::abs(static_cast<double>(c) - even) < std::abs(static_cast<double>(best) - even);
      if (fewer || (profile[c] == profile[best] && nearer)) best = c;
    }
    if (cuts.empty() || best > cuts.back()) cuts.push_back(best);
  }
  return cuts;
}

// Step 3 for recognition: every start column whose path is the cheapest within `spacing` on
// either side, cheapest first, kept if at least `spacing` from the ends and from every kept cut.
inline std::vector<std::size_t> candidate_cuts(const std::vector<double>& profile, std::size_t spacing) {
  std::vector<std::size_t> minima;
  for (std::size_t c = spacing; c + spacing <= profile.size() && c < profile.size(); ++c) {
    const std::size_t first = c - std::min(c, spacing), last = std::min(profile.size() - 1, c + spacing);
    if (*std::min_element(profile.begin() + static_cast<std::ptrdiff_t>(first),
                          profile.begin() + static_cast<std::ptrdiff_t>(last) + 1) == profile[c])
      minima.push_back(c);
  }
  std::stable_sort(minima.begin(), minima.end(), [&](std::size_t a, std::size_t b) { return profile[a] < profile[b]; });
  std::vector<std::size_t> cuts;
  for (const std::size_t c : minima)
    if (std::all_of(cuts.begin(), cuts.end(),
                    [&](std::size_t kept) { return c + spacing <= kept || kept + spacing <= c; }))
      cuts.push_back(c);
  std::sort(cuts.begin(), cuts.end());
  return cuts;
}

// The pieces of every group (its parts between cuts), left to right, each with its own
// pixels and the anti-aliased edge next to them.
struct InkPieces {
  std::vector<std::uint32_t> owner;  // per pixel: 0 paper, k for piece k - 1
  std::vector<InkBox> boxes;
  std::vector<std::size_t> group;  // the group each piece was cut from
};

inline InkPieces cut_pieces(const GrayImage& ink, const InkComponents& components,
                            const std::vector<InkGroup>& groups) {
  const auto group_of = group_of_labels(components, groups);
  std::vector<std::size_t> first_piece(groups.size() + 1, 0);
  for (std::size_t g = 0; g < groups.size(); ++g) first_piece[g + 1] = first_piece[g] + groups[g].cuts.size() + 1;
  const std::size_t count = first_piece[groups.size()];
  std::vector<std::uint32_t> owner(ink.size(), 0);
  for (std::size_t r = 0; r < ink.height; ++r)
    for (std::size_t c = 0; c < ink.width; ++c) {
      const std::uint32_t g = group_of[components.label(r, c)];
      if (!g) continue;
      const auto& group = groups[g - 1];
      const std::size_t row = r - group.box.top, column = c - group.box.left;
      const auto index = static_cast<std::size_t>(
          std::count_if(group.cuts.begin(), group.cuts.end(),
                        [&](const std::vector<std::size_t>& cut) { return cut[row] <= column; }));
      owner[r * ink.width + c] = static_cast<std::uint32_t>(first_piece[g - 1] + index + 1);
    }
  // The anti-aliased edge goes to the piece of an ink neighbour (the first in raster order).
  std::vector<std::uint32_t> edge(ink.size(), 0);
  for (std::size_t r = 0; r < ink.height; ++r)
    for (std::size_t c = 0; c < ink.width; ++c) {
      if (owner[r * ink.width + c] || !(ink(r, c) >= edge_level)) continue;
      for (std::size_t nr = r ? r - 1 : 0; nr <= std::min(r + 1, ink.height - 1) && !edge[r * ink.width + c]; ++nr)
        for (std::size_t nc = c ? c - 1 : 0; nc <= std::min(c + 1, ink.width - 1); ++nc)
          if (const std::uint32_t o = owner[nr * ink.width + nc]) {
            edge[r * ink.width + c] = o;
            break;
          }
    }
  for (std::size_t i = 0; i < ink.size(); ++i) owner[i] = std::max(owner[i], edge[i]);
  std::vector<InkBox> boxes(count);
  for (std::size_t r = 0; r < ink.height; ++r)
    for (std::size_t c = 0; c < ink.width; ++c)
      if (const std::uint32_t o = owner[r * ink.width + c]) boxes[o - 1] = box_union(boxes[o - 1], {r, c, 1, 1});
  // Left to right by box centre; pieces left empty by a cut are dropped.
  std::vector<std::size_t> order;
  for (std::size_t p = 0; p < count; ++p)
    if (!boxes[p].empty()) order.push_back(p);
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return 2 * boxes[a].left + boxes[a].width < 2 * boxes[b].left + boxes[b].width;
  });
  std::vector<std::uint32_t> renumber(count + 1, 0);
  InkPieces pieces;
  for (std::size_t k = 0; k < order.size(); ++k) {
    renumber[order[k] + 1] = static_cast<std::uint32_t>(k + 1);
    pieces.boxes.push_back(boxes[order[k]]);
    const auto g = static_cast<std::size_t>(std::upper_bound(first_piece.begin(), first_piece.end(), order[k]) -
                                            first_piece.begin()) -
                   1;
    pieces.group.push_back(g);
  }
  for (auto& o : owner) o = renumber[o];
  pieces.owner = std::move(owner);
  return pieces;
}

// Pieces first..last-1 together as one digit.
inline DigitSegment join_pieces(const GrayImage& ink, const InkPieces& pieces, const std::vector<InkGroup>& groups,
                                std::size_t first, std::size_t last) {
  DigitSegment segment;
  for (std::size_t p = first; p < last; ++p) {
    segment.box = box_union(segment.box, pieces.boxes[p]);
    if (p == first || pieces.group[p] != pieces.group[p - 1])
      segment.components += groups[pieces.group[p]].labels.size();
  }
  // Split: a group it shares pieces with has pieces outside it.
  segment.split = (first > 0 && pieces.group[first - 1] == pieces.group[first]) ||
                  (last < pieces.boxes.size() && pieces.group[last] == pieces.group[last - 1]);
  segment.ink = GrayImage(segment.box.height, segment.box.width);
  for (std::size_t r = 0; r < segment.box.height; ++r)
    for (std::size_t c = 0; c < segment.box.width; ++c) {
      const std::size_t index = (segment.box.top + r) * ink.width + segment.box.left + c;
      const std::uint32_t o = pieces.owner[index];
      if (o > first && o <= last) segment.ink(r, c) = clamp_unit(ink.pixels[index]);
    }
  return segment;
}

}  // namespace detail

// The digits of the ink image `ink` (coverage, MNIST's polarity, as extract_ink gives it), left
// to right, by shape alone (steps 1-5 above); none when it holds no ink above the threshold.
inline std::vector<DigitSegment> segment_digits(const GrayImage& ink, const SegmentationOptions& options = {}) {
  if (ink.empty() || ink.size() != ink.height * ink.width) return {};
  const InkComponents components = label_ink_components(ink, options.ink_threshold);
  std::vector<detail::InkGroup> groups = detail::merged_groups(components, options);
  const auto group_of = detail::group_of_labels(components, groups);
  const auto band = static_cast<std::size_t>(std::lround(options.cut_slant * detail::typical_height(groups)));
  for (std::size_t g = 0; g < groups.size(); ++g) {
    auto& group = groups[g];
    const auto height = static_cast<float>(group.box.height), width = static_cast<float>(group.box.width);
    if (width <= options.max_digit_aspect * height) continue;
    const auto count =
        std::max<std::size_t>(2, static_cast<std::size_t>(std::lround(width / (options.digit_aspect * height))));
    const detail::CutPaths paths = detail::cut_paths(components, group_of, group, g, band);
    for (const std::size_t start : detail::even_cuts(paths.cost, count)) group.cuts.push_back(paths.paths[start]);
  }
  const detail::InkPieces pieces = detail::cut_pieces(ink, components, groups);
  std::vector<DigitSegment> digits;
  for (std::size_t p = 0; p < pieces.boxes.size(); ++p)
    digits.push_back(detail::join_pieces(ink, pieces, groups, p, p + 1));
  return digits;
}

// The digits of `ink` as a recogniser reads them best, after LeCun et al. (1998, section V,
// heuristic over-segmentation): the ink is cut at every candidate column (more cuts than there
// are digits), and dynamic programming picks the split into digits, each a run of neighbouring
// pieces, that maximizes the sum of score(digit) over the digits. `score` takes a DigitSegment
// and returns a log-probability that it is one digit (e.g. the log of a classifier's top
// probability), or -infinity to refuse it. A piece that every run refuses stands alone.
template <class Score>
std::vector<DigitSegment> segment_digits_by_recognition(const GrayImage& ink, Score&& score,
                                                        const SegmentationOptions& options = {}) {
  if (ink.empty() || ink.size() != ink.height * ink.width) return {};
  const InkComponents components = label_ink_components(ink, options.ink_threshold);
  std::vector<detail::InkGroup> groups = detail::merged_groups(components, options);
  if (groups.empty()) return {};
  const auto group_of = detail::group_of_labels(components, groups);
  const float typical_height = detail::typical_height(groups);
  const auto spacing =
      std::max<std::size_t>(1, static_cast<std::size_t>(std::lround(options.min_piece_aspect * typical_height)));
  const auto band = static_cast<std::size_t>(std::lround(options.cut_slant * typical_height));
  for (std::size_t g = 0; g < groups.size(); ++g) {
    auto& group = groups[g];
    if (static_cast<float>(group.box.width) <= options.min_cut_aspect * typical_height) continue;
    const detail::CutPaths paths = detail::cut_paths(components, group_of, group, g, band);
    for (const std::size_t start : detail::candidate_cuts(paths.cost, spacing))
      group.cuts.push_back(paths.paths[start]);
  }
  const detail::InkPieces pieces = detail::cut_pieces(ink, components, groups);

  // best[j]: the best score of pieces 0..j-1 read as digits; from[j]: where its last digit starts.
  const std::size_t count = pieces.boxes.size();
  constexpr double refused = -std::numeric_limits<double>::infinity();
  std::vector<double> best(count + 1, refused);
  std::vector<std::size_t> from(count + 1, 0);
  best[0] = 0;
  for (std::size_t last = 1; last <= count; ++last) {
    InkBox run;
    float joins = 0;
    for (std::size_t first = last; first-- > 0 && last - first <= options.max_pieces_per_digit;) {
      if (first + 1 < last) {
        const auto& left = pieces.boxes[first];
        const auto& right = pieces.boxes[first + 1];
        const bool same_group = pieces.group[first] == pieces.group[first + 1];
        const auto gap =
            static_cast<float>(static_cast<std::ptrdiff_t>(right.left) - static_cast<std::ptrdiff_t>(left.right()));
        if (!same_group && gap > options.merge_gap * typical_height) break;
      }
      run = box_union(run, pieces.boxes[first]);
      const bool alone = first + 1 == last;
      const float aspect = static_cast<float>(run.width) / static_cast<float>(run.height);
      if (!alone && aspect > options.max_digit_run_aspect) break;
      if (first + 1 < last && pieces.group[first] != pieces.group[first + 1]) joins += options.join_cost;
      if (best[first] == refused) continue;
      double value = static_cast<double>(score(detail::join_pieces(ink, pieces, groups, first, last)));
      if (alone && !(value > refused)) value = -1e6;  // a piece nothing accepts still stands alone
      value -= static_cast<double>(joins);
      const float shortest = options.min_height * typical_height;
      if (options.height_spread > 0 && static_cast<float>(run.height) < shortest) {
        const double z = std::log(static_cast<double>(run.height) / static_cast<double>(shortest)) /
                         static_cast<double>(options.height_spread);
        value -= z * z / 2;
      }
      if (best[first] + value > best[last]) {
        best[last] = best[first] + value;
        from[last] = first;
      }
    }
  }
  std::vector<DigitSegment> digits;
  for (std::size_t last = count; last > 0; last = from[last])
    digits.push_back(detail::join_pieces(ink, pieces, groups, from[last], last));
  std::reverse(digits.begin(), digits.end());
  return digits;
}

// A number image to its digits, left to right, each prepared as prepare_digit would prepare it
// alone; ink_box is in the image's pixels. A piece with too little ink to be a digit is left out.
// Throws as extract_ink does (a tiny or blank image).
inline std::vector<PreparedDigit> prepare_number(const GrayImage& image, const SegmentationOptions& segmentation = {},
                                                 const DigitPreparationOptions& preparation = {}) {
  const InkImage ink = extract_ink(image, preparation);
  std::vector<PreparedDigit> digits;
  for (const DigitSegment& segment : segment_digits(ink.ink, segmentation)) {
    PreparedDigit digit;
    try {
      digit = prepare_ink(segment.ink, preparation);
    } catch (const NoInkError&) {
      continue;
    }
    digit.inverted = ink.inverted;
    digit.ink_box.top += segment.box.top;
    digit.ink_box.left += segment.box.left;
    digits.push_back(digit);
  }
  return digits;
}

// How far a read digit string is from the truth: the Levenshtein distance, the fewest digits
// inserted, deleted or substituted to turn `read` into `truth`. Over a test set, the sum of
// distances over the sum of true lengths is the digit error rate (OCR's character error rate).
inline std::size_t edit_distance(std::string_view read, std::string_view truth) {
  std::vector<std::size_t> previous(truth.size() + 1), current(truth.size() + 1);
  for (std::size_t j = 0; j <= truth.size(); ++j) previous[j] = j;
  for (std::size_t i = 1; i <= read.size(); ++i) {
    current[0] = i;
    for (std::size_t j = 1; j <= truth.size(); ++j)
      current[j] = std::min({previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (read[i - 1] != truth[j - 1])});
    std::swap(previous, current);
  }
  return previous[truth.size()];
}

}  // namespace ctnn
