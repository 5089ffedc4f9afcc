export type { Stat, GeoStat, GeoCurve, SampleSizeStat, StabilizationSummary, SummaryRow, GroupField, ExportFormat } from './types.js';
export { GROUP_FIELDS, DEFAULT_BY, EXPORT_FORMATS } from './types.js';
export { stat, Welford, CurveAccumulator, tQuantile, tCdf, t975, ci95, welfordStat, welfordAdd, geometric, Z_975 } from './stats.js';
export {
  aggregate, Aggregation, AnalysisError, STAT_FIELDS, checkBy,
} from './aggregate.js';
export type { AggregateResult, FailedCell, StatField } from './aggregate.js';
export {
  writeSummary, summaryTable, summarySchema, summaryColumns, summaryCsv, formatTable, formatNumber,
  csvCell, csvList, SUMMARY_SCHEMA_VERSION, META_SUMMARY_BY, META_SUMMARY_SCHEMA_VERSION,
} from './summary-file.js';
export { exportSweep } from './export.js';
export type { ExportResult } from './export.js';
export {
  buildFigures, renderSvg, ema, chooseFamilies, curveSeries, metricPoints, drawnGroups, extent,
  lossDiffFigure, lossDiffSpec, metricFigure, metricSpec, boundFigure, densityFigure, MAX_SERIES,
} from './figures.js';
export type {
  BoundPoint, BoundSample, DensityCell, FigureData, Family, MetricName, Figure, FigureOptions, FigureSet, FamilyChoice, CurveSeries, DrawnGroups,
} from './figures.js';
export { readReportData, ReportData, REPORT_COLUMNS, BOUND_SAMPLE, STAGES } from './report-data.js';
export type { ReportSnapshot, RowTally, StageTime } from './report-data.js';
export { writeReport, renderReport, progressText, scopeSvgIds, MAX_SUMMARY_ROWS, MAX_FAILED_ROWS } from './report.js';
export type { ReportOptions, ReportResult, LiveStatus, RenderInput } from './report.js';
export { LiveReport } from './live-report.js';
export type { LiveOptions, LiveUpdate } from './live-report.js';
export { StabilizationAccumulator, stabilizationReader, tailLogRatio, STABILIZATION_COLUMNS } from './stabilization.js';
export type { StabilizationCell } from './stabilization.js';
export {
  stabilizationFigures, delta2Spec, delta2Points, delta2Sigmas, referenceLines, pointsSpec, subspaceShare, quadraticModelPoints, sampleSizePoints,
  subspaceShareSpec, quadraticModelSpec, sampleSizeSpec, shortNumber, REFERENCE_SLOPE, MAX_SIGMA_PANELS, REACHED, EXTRAPOLATED, NO_COLUMNS,
} from './stab-figures.js';
export type { Delta2Estimator, Delta2Point, GeoPoint, FamilyPanel, SampleSizeCriterion, SampleSizeCounts } from './stab-figures.js';
