import { defineConfig } from 'vite';

// Relative base: the built page works wherever the server mounts it (hash routing, no SPA fallback).
export default defineConfig({
  base: './',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    chunkSizeWarningLimit: 1500,
    target: 'es2020',
  },
  server: {
    proxy: { '/api': 'http://127.0.0.1:8080' },
  },
});
