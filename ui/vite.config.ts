import { defineConfig } from "vite";

// Vanilla TypeScript front end for the Tauri shell: no framework, no plugins.
export default defineConfig({
  clearScreen: false,
  server: { port: 5173, strictPort: true },
  build: { target: "safari15", outDir: "dist", emptyOutDir: true, sourcemap: false },
  test: { environment: "jsdom", globals: true },
});
