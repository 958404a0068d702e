/** Types for parse-prometheus-text-format (the package ships none): text exposition -> metric families. */
declare module "parse-prometheus-text-format" {
  export default function parsePrometheusTextFormat(text: string): unknown[];
}
