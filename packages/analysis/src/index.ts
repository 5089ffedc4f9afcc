export type { Stat, SummaryRow, GroupField } from './types.js';
export { GROUP_FIELDS } from './types.js';
export { stat, Welford, CurveAccumulator, tQuantile, tCdf, t975, ci95, welfordStat, Z_975 } from './stats.js';
export {
  aggregate, AnalysisError, DEFAULT_BY, STAT_FIELDS, checkBy,
} from './aggregate.js';
export type { AggregateResult, FailedCell, StatField } from './aggregate.js';
export {
  writeSummary, summaryTable, summarySchema, summaryColumns, summaryCsv, formatTable, formatNumber,
  csvCell, csvList, SUMMARY_SCHEMA_VERSION, META_SUMMARY_BY, META_SUMMARY_SCHEMA_VERSION,
} from './summary-file.js';
export { exportSweep, EXPORT_FORMATS } from './export.js';
export type { ExportFormat, ExportResult } from './export.js';
export {
  buildFigures, renderSvg, ema, chooseFamilies, curveSeries, metricPoints,
  lossDiffFigure, metricFigure, boundFigure, densityFigure,
} from './figures.js';
export type { CellData, Family, MetricName, Figure, FigureOptions, FigureSet, FamilyChoice, CurveSeries } from './figures.js';
export { writeReport, scopeSvgIds } from './report.js';
export type { ReportOptions, ReportResult } from './report.js';
