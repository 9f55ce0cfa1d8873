#include "eval/svg_plot.h"

#include <gtest/gtest.h>

namespace medmesh::eval {
namespace {

int Count(const std::string& text, const std::string& what) {
  int n = 0;
  for (std::size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) {
    ++n;
  }
  return n;
}

TEST(RenderSvg, OnePolylinePerSeriesWithLegendAndGoal) {
  LineChart chart;
  chart.title = "A < B & C";
  chart.x_label = "x";
  chart.y_label = "y";
  chart.series = {{"ours", {{0, 0.1}, {1, 0.2}, {2, 0.05}}}, {"base", {{0, 0.3}, {2, 0.4}}}};
  chart.goal_y = 0.05;
  chart.goal_label = "goal 5 %";
  const std::string svg = RenderSvg(chart);
  EXPECT_EQ(svg.rfind("<svg xmlns=\"http://www.w3.org/2000/svg\"", 0), 0u);
  EXPECT_NE(svg.find("</svg>"), std::string::npos);
  EXPECT_EQ(Count(svg, "<polyline"), 2);
  EXPECT_EQ(Count(svg, "<circle"), 5);
  EXPECT_NE(svg.find("A &lt; B &amp; C"), std::string::npos);
  EXPECT_EQ(svg.find("A < B"), std::string::npos);
  EXPECT_NE(svg.find(">ours</text>"), std::string::npos);
  EXPECT_NE(svg.find("stroke-dasharray"), std::string::npos);
  EXPECT_EQ(RenderSvg(chart), svg);  // deterministic
}

TEST(RenderSvg, EmptyChartIsStillADocument) {
  const std::string svg = RenderSvg(LineChart{});
  EXPECT_NE(svg.find("</svg>"), std::string::npos);
  EXPECT_EQ(svg.find("nan"), std::string::npos);
}

}  // namespace
}  // namespace medmesh::eval
