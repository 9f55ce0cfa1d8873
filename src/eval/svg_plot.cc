#include "eval/svg_plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace medmesh::eval {

namespace {

constexpr double kWidth = 640;
constexpr double kHeight = 400;
constexpr double kLeft = 70;
constexpr double kRight = 170;  // room for the legend
constexpr double kTop = 40;
constexpr double kBottom = 55;
constexpr const char* kColours[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e"};

std::string Num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

std::string Tick(double v) {
  char buf[32];
  if (std::fabs(v - std::round(v)) < 1e-9 && std::fabs(v) >= 1) {
    std::snprintf(buf, sizeof buf, "%.0f", v);
  } else {
    std::snprintf(buf, sizeof buf, "%.2g", v);
  }
  return buf;
}

std::string Escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out.push_back(c);
    }
  }
  return out;
}

// A "nice" step for about `count` ticks over `span`.
double NiceStep(double span, int count) {
  if (span <= 0) return 1;
  const double raw = span / count;
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 2.5, 5.0, 10.0}) {
    if (raw <= m * magnitude) return m * magnitude;
  }
  return 10 * magnitude;
}

}  // namespace

std::string RenderSvg(const LineChart& chart) {
  double x_min = chart.x_min, x_max = chart.x_max, y_min = chart.y_min, y_max = chart.y_max;
  if (x_min == x_max || y_min == y_max) {
    double dx_min = 0, dx_max = 0, dy_max = 0;
    bool first = true;
    for (const PlotSeries& s : chart.series) {
      for (auto [x, y] : s.points) {
        dx_min = first ? x : std::min(dx_min, x);
        dx_max = first ? x : std::max(dx_max, x);
        dy_max = first ? y : std::max(dy_max, y);
        first = false;
      }
    }
    if (!chart.goal_label.empty()) dy_max = std::max(dy_max, chart.goal_y);
    if (x_min == x_max) {
      x_min = dx_min;
      x_max = dx_max > dx_min ? dx_max : dx_min + 1;
    }
    if (y_min == y_max) {
      y_min = 0;
      const double step = NiceStep(dy_max > 0 ? dy_max : 1, 5);
      y_max = std::ceil((dy_max > 0 ? dy_max * 1.05 : 1) / step) * step;
    }
  }
  const double plot_w = kWidth - kLeft - kRight;
  const double plot_h = kHeight - kTop - kBottom;
  auto px = [&](double x) { return kLeft + (x - x_min) / (x_max - x_min) * plot_w; };
  auto py = [&](double y) {
    return kTop + plot_h - (std::clamp(y, y_min, y_max) - y_min) / (y_max - y_min) * plot_h;
  };

  std::string out;
  out +=
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"640\" height=\"400\" "
      "viewBox=\"0 0 640 400\" font-family=\"sans-serif\" font-size=\"12\">\n";
  out += "<rect width=\"640\" height=\"400\" fill=\"white\"/>\n";
  out += "<text x=\"" + Num(kWidth / 2) + "\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">" +
         Escape(chart.title) + "</text>\n";
  // Axes and ticks.
  out += "<g stroke=\"#444\" stroke-width=\"1\">\n";
  out += "<line x1=\"" + Num(kLeft) + "\" y1=\"" + Num(kTop + plot_h) + "\" x2=\"" +
         Num(kLeft + plot_w) + "\" y2=\"" + Num(kTop + plot_h) + "\"/>\n";
  out += "<line x1=\"" + Num(kLeft) + "\" y1=\"" + Num(kTop) + "\" x2=\"" + Num(kLeft) +
         "\" y2=\"" + Num(kTop + plot_h) + "\"/>\n";
  out += "</g>\n";
  const double x_step = NiceStep(x_max - x_min, 6);
  for (double x = std::ceil(x_min / x_step) * x_step; x <= x_max + 1e-9; x += x_step) {
    out += "<line x1=\"" + Num(px(x)) + "\" y1=\"" + Num(kTop + plot_h) + "\" x2=\"" + Num(px(x)) +
           "\" y2=\"" + Num(kTop + plot_h + 5) + "\" stroke=\"#444\"/>\n";
    out += "<text x=\"" + Num(px(x)) + "\" y=\"" + Num(kTop + plot_h + 18) +
           "\" text-anchor=\"middle\">" + Tick(x) + "</text>\n";
  }
  const double y_step = NiceStep(y_max - y_min, 5);
  for (double y = std::ceil(y_min / y_step) * y_step; y <= y_max + 1e-9; y += y_step) {
    out += "<line x1=\"" + Num(kLeft) + "\" y1=\"" + Num(py(y)) + "\" x2=\"" + Num(kLeft + plot_w) +
           "\" y2=\"" + Num(py(y)) + "\" stroke=\"#e5e5e5\"/>\n";
    out += "<text x=\"" + Num(kLeft - 6) + "\" y=\"" + Num(py(y) + 4) + "\" text-anchor=\"end\">" +
           Tick(y) + "</text>\n";
  }
  out += "<text x=\"" + Num(kLeft + plot_w / 2) + "\" y=\"" + Num(kHeight - 12) +
         "\" text-anchor=\"middle\">" + Escape(chart.x_label) + "</text>\n";
  out += "<text transform=\"translate(16 " + Num(kTop + plot_h / 2) +
         ") rotate(-90)\" text-anchor=\"middle\">" + Escape(chart.y_label) + "</text>\n";
  if (!chart.goal_label.empty()) {
    out += "<line x1=\"" + Num(kLeft) + "\" y1=\"" + Num(py(chart.goal_y)) + "\" x2=\"" +
           Num(kLeft + plot_w) + "\" y2=\"" + Num(py(chart.goal_y)) +
           "\" stroke=\"#888\" stroke-dasharray=\"6 4\"/>\n";
    out += "<text x=\"" + Num(kLeft + plot_w - 4) + "\" y=\"" + Num(py(chart.goal_y) - 5) +
           "\" text-anchor=\"end\" fill=\"#666\">" + Escape(chart.goal_label) + "</text>\n";
  }
  // Series and legend.
  for (std::size_t i = 0; i < chart.series.size(); ++i) {
    const PlotSeries& s = chart.series[i];
    const std::string colour = kColours[i % std::size(kColours)];
    std::string points;
    for (auto [x, y] : s.points) {
      if (!points.empty()) points += ' ';
      points += Num(px(x)) + "," + Num(py(y));
    }
    out += "<polyline fill=\"none\" stroke=\"" + colour + "\" stroke-width=\"2\" points=\"" +
           points + "\"/>\n";
    if (s.points.size() <= 20) {
      for (auto [x, y] : s.points) {
        out += "<circle cx=\"" + Num(px(x)) + "\" cy=\"" + Num(py(y)) + "\" r=\"3\" fill=\"" +
               colour + "\"/>\n";
      }
    }
    const double ly = kTop + 10 + 20.0 * static_cast<double>(i);
    out += "<line x1=\"" + Num(kWidth - kRight + 15) + "\" y1=\"" + Num(ly) + "\" x2=\"" +
           Num(kWidth - kRight + 40) + "\" y2=\"" + Num(ly) + "\" stroke=\"" + colour +
           "\" stroke-width=\"2\"/>\n";
    out += "<text x=\"" + Num(kWidth - kRight + 46) + "\" y=\"" + Num(ly + 4) + "\">" +
           Escape(s.name) + "</text>\n";
  }
  out += "</svg>\n";
  return out;
}

}  // namespace medmesh::eval
