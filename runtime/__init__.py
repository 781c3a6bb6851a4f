"""tritium.runtime"""
