/** Stylesheets are imported for their side effect: Bun's bundler inlines them into the page. */
declare module "*.css";
