// A small SVG line-chart writer for the evaluations (no dependency): axes with ticks, one
// polyline with point markers per series, a legend. Deterministic text for given input.
// Pure function; thread-safe.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace medmesh::eval {

struct PlotSeries {
  std::string name;
  std::vector<std::pair<double, double>> points;  // (x, y), drawn in the given order
};

struct LineChart {
  std::string title;
  std::string x_label;
  std::string y_label;
  std::vector<PlotSeries> series;
  // Axis ranges; when min == max the range is taken from the data (y from 0).
  double x_min = 0, x_max = 0;
  double y_min = 0, y_max = 0;
  // An optional horizontal dashed line (a goal), drawn when goal_label is not empty.
  double goal_y = 0;
  std::string goal_label;
};

// The chart as a standalone SVG document (640 x 400). Text is XML-escaped.
std::string RenderSvg(const LineChart& chart);

}  // namespace medmesh::eval
